#include "sample/sample_codes.hpp"

#include <algorithm>
#include <cstring>

#include "interp/code.hpp"
#include "interp/objects.hpp"
#include "interp/python_process.hpp"
#include "layout/version_traits.hpp"
#include "sample/stack_aggregate.hpp"
#include "target/tick_reader.hpp"

namespace pyxray {

// CO_COROUTINE: the same bit in every 3.x release (2.7 has no coroutines, and no code with the bit).
constexpr uint32_t kCoCoroutine = 0x80;
namespace {
constexpr int kMaxLine = 50'000'000;  // a line table giving more than this is not being read right
}  // namespace

SampleCodes::SampleCodes(PythonProcess& proc, FrameTable& frames, uint64_t code_type)
    : proc_(proc), frames_(frames), code_type_(code_type) {
  const Layout& L = proc.layout();
  int64_t lo = std::min(L.object_ob_type, L.code_co_name);
  int64_t hi = std::max(L.object_ob_type, L.code_co_name) + 8;
  check_lo_ = lo;
  check_len_ = hi - lo;
  by_addr_.reserve(1024);
}

SampleCodes::~SampleCodes() = default;

SampledCode* SampleCodes::lookup(TickReader& reader, uint64_t addr, CodeCheck& why) {
  const Layout& L = proc_.layout();
  if (addr == 0 || addr % 8 != 0) {
    why = CodeCheck::NotCode;
    return nullptr;
  }
  auto it = by_addr_.find(addr);
  if (it != by_addr_.end() && now_ - it->second->checked_at < kRecheck) return it->second.get();
  const std::byte* p = reader.get(addr + check_lo_, static_cast<std::size_t>(check_len_));
  if (!p) {
    why = CodeCheck::Unreadable;
    return nullptr;
  }
  uint64_t type = 0, name = 0;
  std::memcpy(&type, p + (L.object_ob_type - check_lo_), 8);
  std::memcpy(&name, p + (L.code_co_name - check_lo_), 8);
  if (type != code_type_ || name == 0 || name % 8 != 0) {
    why = CodeCheck::NotCode;
    return nullptr;
  }
  if (it != by_addr_.end() && it->second->name_ptr == name) {
    it->second->checked_at = now_;
    return it->second.get();
  }
  SampledCode* code = decode(addr, name);
  if (!code) {
    why = CodeCheck::Unreadable;
    return nullptr;
  }
  code->checked_at = now_;
  return code;
}

SampledCode* SampleCodes::decode(uint64_t addr, uint64_t name_ptr) {
  // The first sight of this code object: decode it with the core's decoders, through the process's
  // page-cached memory (direct reads for a live process). Those pages may be from an earlier decode
  // while the target ran since: start from an empty cache.
  proc_.mem().clear();
  Objects objects(proc_);
  CodeCache cache(proc_, objects);
  auto info = cache.get(addr);
  if (!info) return nullptr;
  const CodeInfo& ci = **info;
  auto code = std::make_unique<SampledCode>();
  code->addr = addr;
  code->name_ptr = name_ptr;
  code->function = ci.qualname ? *ci.qualname : ci.name;
  code->filename = ci.filename;
  code->first_line = ci.first_line;
  code->format = ci.format;
  code->line_table = ci.line_table;
  code->lines_known = !ci.line_table_cut_from;
  code->code_start = ci.code_start;
  code->first_traceable = ci.first_traceable;
  const Layout& L = proc_.layout();
  if (L.code_co_flags != kAbsent) {
    if (auto flags = proc_.mem().read<uint32_t>(addr + L.code_co_flags)) {
      code->generator = (*flags & proc_.traits().generator_code_flags) != 0;
      code->coroutine = (*flags & kCoCoroutine) != 0;
    }
  }
  if (ci.code_start && L.varobject_ob_size != kAbsent) {
    // 3.11+: a code object is a variable-size object of code units (two bytes each).
    if (auto units = proc_.mem().read<int64_t>(addr + L.varobject_ob_size); units && *units >= 0 && *units < (1 << 26))
      code->code_bytes = *units * 2;
  }
  ++decoded_;
  auto& slot = by_addr_[addr];
  slot = std::move(code);
  return slot.get();
}

std::optional<uint32_t> SampleCodes::frame_id(SampledCode& code, int byte_offset) {
  if (byte_offset < -2) return std::nullopt;
  std::size_t slot = static_cast<std::size_t>(byte_offset + 2);
  if (slot < code.frame_ids.size() && code.frame_ids[slot] != 0) return code.frame_ids[slot] - 1;
  // CPython reports co_firstlineno for a frame that has not started yet.
  std::optional<int> line;
  if (byte_offset < 0) line = code.first_line;
  else if (code.lines_known) line = line_for_offset(code.format, code.line_table, code.first_line, byte_offset);
  if (line && (*line < 0 || *line > kMaxLine)) return std::nullopt;
  uint32_t id = frames_.intern(FrameInfo{code.function, code.filename, line.value_or(-1), false, code.first_line});
  if (byte_offset <= kMaxMemoOffset) {
    if (slot >= code.frame_ids.size()) {
      std::size_t limit = static_cast<std::size_t>(kMaxMemoOffset) + 3;
      code.frame_ids.resize(std::min(limit, std::max(slot + 1, code.frame_ids.size() * 2)), 0);
    }
    code.frame_ids[slot] = id + 1;
  }
  return id;
}

std::optional<uint32_t> SampleCodes::frame_id_for_line(SampledCode& code, int line) {
  if (line < 0 || line > kMaxLine) return std::nullopt;
  if (auto it = code.traced_lines.find(line); it != code.traced_lines.end()) return it->second;
  uint32_t id = frames_.intern(FrameInfo{code.function, code.filename, line, false, code.first_line});
  code.traced_lines.emplace(line, id);
  return id;
}

}  // namespace pyxray
