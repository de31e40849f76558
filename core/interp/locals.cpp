#include "interp/locals.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "base/limits.hpp"
#include "interp/frames.hpp"
#include "interp/objects.hpp"
#include "interp/python_process.hpp"
#include "layout/version_traits.hpp"

namespace pyxray {
namespace {

// CO_OPTIMIZED: variables in fast slots. Not CO_NEWLOCALS: 2.7 sets that on class bodies too, which
// keep their variables in a dict like module code.
constexpr int kCoOptimized = 0x1;
constexpr int kCoVarargs = 0x4;
constexpr int kCoVarkeywords = 0x8;
constexpr uint8_t kFastHidden = 0x10;  // 3.12+: inlined-comprehension temporaries
constexpr uint8_t kFastCell = 0x40;
constexpr uint8_t kFastFree = 0x80;
constexpr int64_t kMaxSlots = 1 << 16;

struct FrameFields {
  int64_t locals, globals, builtins, localsplus;
};

FrameFields frame_fields(const PythonProcess& proc) {
  const Layout& L = proc.layout();
  if (proc.traits().frame_model == FrameModel::FrameObjects)
    return {L.frame_f_locals, L.frame_f_globals, L.frame_f_builtins, L.frame_f_localsplus};
  return {L.iframe_f_locals, L.iframe_f_globals, L.iframe_f_builtins, L.iframe_localsplus};
}

uint64_t untag(const PythonProcess& proc, uint64_t ref) {
  return proc.traits().stackref_tagged ? ref & ~uint64_t{3} : ref;
}

Expected<std::vector<uint64_t>> tuple_items(PythonProcess& proc, uint64_t tuple) {
  if (tuple == 0) return std::vector<uint64_t>{};
  PYX_TRY(size, proc.mem().read<int64_t>(tuple + proc.layout().varobject_ob_size));
  if (size < 0 || size > kMaxSlots) return fail(fmt::format("tuple at 0x{:x} has a bad size", tuple));
  PYX_TRY(raw, proc.mem().read_bytes(tuple + proc.layout().tuple_ob_item, static_cast<std::size_t>(size) * 8));
  std::vector<uint64_t> out(static_cast<std::size_t>(size));
  if (!raw.empty()) std::memcpy(out.data(), raw.data(), raw.size());  // an empty tuple has no buffers at all
  return out;
}

// A cell's contents; an object that is not a cell is its own value.
uint64_t deref_cell(PythonProcess& proc, Objects& objects, uint64_t obj) {
  auto type = objects.type_name(obj);
  if (!type || *type != "cell") return obj;
  return proc.mem().read_ptr(obj + proc.layout().cell_ob_ref).value_or(0);
}

Expected<std::string> name_at(Objects& objects, const std::vector<uint64_t>& names, std::size_t i) {
  if (i >= names.size()) return fail("local variable names are shorter than the frame");
  return objects.read_text(names[i], 256);
}

int argument_count(PythonProcess& proc, uint64_t code, int flags) {
  const Layout& L = proc.layout();
  int n = proc.mem().read<int32_t>(code + L.code_co_argcount).value_or(0);
  if (L.code_co_kwonlyargcount != kAbsent) n += proc.mem().read<int32_t>(code + L.code_co_kwonlyargcount).value_or(0);
  if (flags & kCoVarargs) ++n;
  if (flags & kCoVarkeywords) ++n;
  return n;
}

Expected<std::vector<LocalVar>> dict_locals(Objects& objects, uint64_t dict) {
  std::vector<LocalVar> out;
  auto r = objects.dict_items(dict, [&](uint64_t key, uint64_t value) {
    if (auto name = objects.read_text(key, 256)) out.push_back({*name, value, false});
    // Module-level frames list their f_locals dict: cut at the `locals` limit so that a huge module
    // cannot flood the output.
    return out.size() < static_cast<std::size_t>(limits().locals);
  });
  if (!r) return Unexpected<Error>{r.error()};
  return out;
}

}  // namespace

Expected<bool> has_fast_locals(PythonProcess& proc, uint64_t code) {
  PYX_TRY(flags, proc.mem().read<int32_t>(code + proc.layout().code_co_flags));
  return (flags & kCoOptimized) != 0;
}

Expected<std::vector<LocalVar>> frame_locals(PythonProcess& proc, Objects& objects, const PyFrame& frame) {
  const Layout& L = proc.layout();
  Memory& m = proc.mem();
  FrameFields ff = frame_fields(proc);
  uint64_t code = frame.code_addr;
  PYX_TRY(flags, m.read<int32_t>(code + L.code_co_flags));
  if (!(flags & kCoOptimized)) {
    // Module and class bodies keep their variables in a dict.
    PYX_TRY(dict, m.read_ptr(frame.addr + ff.locals));
    if (dict == 0) return std::vector<LocalVar>{};
    return dict_locals(objects, dict);
  }
  std::vector<std::string> names;
  std::vector<uint8_t> kinds;
  if (L.code_co_localsplusnames != kAbsent) {  // 3.11+: one names tuple with a kind byte per slot
    PYX_TRY(names_tuple, m.read_ptr(code + L.code_co_localsplusnames));
    PYX_TRY(items, tuple_items(proc, names_tuple));
    PYX_TRY(kinds_bytes, m.read_ptr(code + L.code_co_localspluskinds));
    PYX_TRY(raw_kinds, objects.read_bytes_value(kinds_bytes, items.size()));
    for (std::size_t i = 0; i < items.size(); ++i) {
      PYX_TRY(name, name_at(objects, items, i));
      names.push_back(std::move(name));
      kinds.push_back(i < raw_kinds.size() ? static_cast<uint8_t>(raw_kinds[i]) : 0);
    }
  } else {  // <= 3.10: locals, then cell variables, then free variables
    PYX_TRY(nlocals, m.read<int32_t>(code + L.code_co_nlocals));
    for (auto [field, kind] : {std::pair{L.code_co_varnames, uint8_t{0}}, std::pair{L.code_co_cellvars, kFastCell},
                               std::pair{L.code_co_freevars, kFastFree}}) {
      PYX_TRY(tuple, m.read_ptr(code + field));
      PYX_TRY(items, tuple_items(proc, tuple));
      std::size_t count = kind == 0
                              ? std::min<std::size_t>(items.size(), static_cast<std::size_t>(std::max(nlocals, 0)))
                              : items.size();
      for (std::size_t i = 0; i < count; ++i) {
        PYX_TRY(name, name_at(objects, items, i));
        names.push_back(std::move(name));
        kinds.push_back(kind);
      }
    }
  }
  if (names.size() > kMaxSlots) return fail("frame has too many local variables");
  PYX_TRY(raw, m.read_bytes(frame.addr + ff.localsplus, names.size() * 8));
  int nargs = argument_count(proc, code, flags);
  // Slots keep their position even when unbound: on <= 3.10 an argument that is also a cell has an
  // empty argument slot and its value in a cell slot further on, and must still be listed as an
  // argument, in the argument's place.
  std::vector<LocalVar> slots;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (kinds[i] & kFastHidden) continue;
    uint64_t value = 0;
    std::memcpy(&value, raw.data() + i * 8, 8);
    value = untag(proc, value);
    if (value && (kinds[i] & (kFastCell | kFastFree))) value = deref_cell(proc, objects, value);
    auto earlier = std::find_if(slots.begin(), slots.end(), [&](const LocalVar& v) { return v.name == names[i]; });
    if (earlier != slots.end()) {
      if (value) earlier->value = value;
      continue;
    }
    slots.push_back({names[i], value, static_cast<int>(i) < nargs});
  }
  std::vector<LocalVar> out;
  for (auto& v : slots)
    if (v.value) out.push_back(std::move(v));  // unbound slots: not assigned yet, or deleted
  return out;
}

Expected<std::vector<uint64_t>> frame_slots(PythonProcess& proc, const PyFrame& frame) {
  const Layout& L = proc.layout();
  Memory& m = proc.mem();
  const uint64_t code = frame.code_addr;
  int64_t fast = 0;
  if (L.code_co_nlocalsplus != kAbsent) {
    PYX_TRY(n, m.read<int32_t>(code + L.code_co_nlocalsplus));
    fast = n;
  } else {  // <= 3.10: locals, then cell and free variables, then the value stack
    PYX_TRY(nlocals, m.read<int32_t>(code + L.code_co_nlocals));
    fast = nlocals;
    for (int64_t field : {L.code_co_cellvars, L.code_co_freevars}) {
      PYX_TRY(tuple, m.read_ptr(code + field));
      if (!tuple) continue;
      PYX_TRY(size, m.read<int64_t>(tuple + L.varobject_ob_size));
      fast += size;
    }
  }
  PYX_TRY(stacksize, m.read<int32_t>(code + L.code_co_stacksize));
  const int64_t count = fast + stacksize;
  if (fast < 0 || stacksize < 0 || count > kMaxSlots) return fail("frame has an implausible number of slots");
  PYX_TRY(raw, m.read_bytes(frame.addr + frame_fields(proc).localsplus, static_cast<std::size_t>(count) * 8));
  std::vector<uint64_t> out(raw.size() / 8);
  if (!out.empty()) std::memcpy(out.data(), raw.data(), out.size() * 8);
  for (auto& v : out) v = untag(proc, v);
  return out;
}

Expected<std::optional<NameLookup>> lookup_name(PythonProcess& proc, Objects& objects, const PyFrame& frame,
                                                std::string_view name) {
  PYX_TRY(locals, frame_locals(proc, objects, frame));
  for (const auto& v : locals)
    if (v.name == name) return std::optional<NameLookup>(NameLookup{v.value, "local"});
  FrameFields ff = frame_fields(proc);
  for (auto [field, scope] : {std::pair{ff.globals, "global"}, std::pair{ff.builtins, "builtin"}}) {
    PYX_TRY(dict, proc.mem().read_ptr(frame.addr + field));
    if (dict == 0) continue;
    PYX_TRY(found, objects.dict_get_str(dict, name));
    if (found) return std::optional<NameLookup>(NameLookup{*found, scope});
  }
  return std::optional<NameLookup>{};
}

}  // namespace pyxray
