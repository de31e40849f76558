#include "heap/heap_context.hpp"

#include <fmt/format.h>

#include "base/terminal_progress.hpp"
#include "interp/python_process.hpp"
#include "layout/version_traits.hpp"
#include "repr/repr.hpp"
#include "target/memory.hpp"

namespace pyxray {

HeapContext::HeapContext(PythonProcess& p) : proc(p), objects(p), types(p, objects), sizer(p, types), refs(p, types) {}

Expected<HeapWalkStats> HeapContext::walk(HeapWalkOptions opt, bool counts_if_gone) {
  // Walks of big heaps take seconds: say how far they got, on a terminal.
  TerminalProgress terminal;
  if (!opt.progress && terminal.enabled()) opt.progress = [&](std::string_view line) { terminal.show(line); };
  HeapWalker w(proc, objects, types, sizer, refs);
  auto stats = w.run(opt);
  if (stats && stats->target_gone && !counts_if_gone)
    return fail(process_gone_message(proc.target().pid(), " during the heap walk"));
  return stats;
}

Expected<const TypeInfo*> HeapContext::object_type(uint64_t addr) {
  auto type = check_object(proc, objects, addr);
  if (!type) return fail(fmt::format("0x{:x} is not a Python object: {}", addr, type.error().message));
  const TypeInfo* t = types.get(*type);
  if (!t) return fail(fmt::format("0x{:x} is not a Python object: its type does not validate", addr));
  return t;
}

const TypeInfo* HeapContext::validated(uint64_t addr) {
  if (!plausible_pointer(addr)) return nullptr;
  Memory& m = proc.mem();
  auto rc = read_refcount(m, proc.layout(), addr);
  if (!rc || *rc < 0 || !plausible_refcount(static_cast<uint64_t>(*rc), proc.traits().refcount_mask)) return nullptr;
  auto type = m.read_ptr(addr + proc.layout().object_ob_type);
  if (!type) return nullptr;
  return types.get(*type);
}

bool HeapContext::interned_str(uint64_t addr) {
  const Layout& L = proc.layout();
  if (L.ascii_state == kAbsent) return false;
  const TypeInfo* t = validated(addr);
  if (!t || t->kind != BaseKind::Str) return false;
  auto state = proc.mem().read<uint32_t>(addr + static_cast<uint64_t>(L.ascii_state));
  if (!state) return false;
  const uint32_t mask = (uint32_t{1} << proc.traits().unicode_kind_shift) - 1;
  return (*state & mask) != 0;
}

bool HeapContext::interned_table(uint64_t dict) {
  const TypeInfo* t = validated(dict);
  if (!t || t->kind != BaseKind::Dict) return false;
  // 2.7's str has no PyASCIIObject state (its ob_sstate is not modelled): a str mapped to itself.
  const bool state_known = proc.layout().ascii_state != kAbsent;
  auto interned = [&](uint64_t k) {
    if (state_known) return interned_str(k);
    const TypeInfo* kt = validated(k);
    return kt && kt->kind == BaseKind::Str27;
  };
  int seen = 0;
  bool all = true;
  (void)objects.dict_items(dict, [&](uint64_t k, uint64_t v) {
    all = k == v && interned(k);
    return all && ++seen < 8;
  });
  return all && seen > 0;
}

}  // namespace pyxray
