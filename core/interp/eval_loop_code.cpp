#include "interp/eval_loop_code.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "interp/python_process.hpp"
#include "target/elf_file.hpp"
#include "target/memory.hpp"
#include "target/process_files.hpp"

namespace pyxray {
namespace {

constexpr const char* kEvalLoop = "_PyEval_EvalFrameDefault";
// A search table larger than this is not one a CPython build has (3.14's exe: 13,000 entries).
constexpr std::size_t kMaxEhFrameHdr = 8u << 20;

// The object's file as the target sees it (a container's differ from the host's); then the file the
// debugger itself read, which a user's `set sysroot` may have put elsewhere on the host.
std::vector<std::string> file_candidates(Target& target, const std::string& path) {
  std::vector<std::string> out{target_file_path(target, path)};
  if (std::string plain = path.starts_with("target:") ? path.substr(7) : path; plain != out.front())
    out.push_back(plain);
  return out;
}

int32_t load_i32(const std::vector<std::byte>& b, std::size_t at) {
  int32_t v = 0;
  std::memcpy(&v, b.data() + at, 4);
  return v;
}

// Function starts from a .eh_frame_hdr (version 1, a udata4 count and a datarel|sdata4 table, as
// GNU ld writes it), as runtime addresses, sorted; empty for any other encoding.
std::vector<uint64_t> function_starts(const std::vector<std::byte>& hdr, uint64_t hdr_addr) {
  constexpr uint8_t kUdata4 = 0x03, kSdata4 = 0x0b, kDatarelSdata4 = 0x3b;
  if (hdr.size() < 12 || static_cast<uint8_t>(hdr[0]) != 1) return {};
  const auto frame_ptr_enc = static_cast<uint8_t>(hdr[1]), count_enc = static_cast<uint8_t>(hdr[2]),
             table_enc = static_cast<uint8_t>(hdr[3]);
  if ((frame_ptr_enc & 0x0f) != kSdata4 && (frame_ptr_enc & 0x0f) != kUdata4) return {};
  if (count_enc != kUdata4 || table_enc != kDatarelSdata4) return {};
  const auto count = static_cast<uint32_t>(load_i32(hdr, 8));
  if (hdr.size() < 12 + static_cast<std::size_t>(count) * 8) return {};
  std::vector<uint64_t> starts;
  starts.reserve(count);
  for (uint32_t i = 0; i < count; ++i)
    starts.push_back(hdr_addr + static_cast<uint64_t>(static_cast<int64_t>(load_i32(hdr, 12 + std::size_t{i} * 8))));
  std::sort(starts.begin(), starts.end());
  return starts;
}

}  // namespace

bool EvalLoopCode::contains(uint64_t pc) const {
  return std::any_of(ranges.begin(), ranges.end(), [pc](const auto& r) { return pc >= r.first && pc < r.second; });
}

EvalLoopCode locate_eval_loop(PythonProcess& proc) {
  Target& target = proc.target();
  auto loop = target.symbol_address(kEvalLoop);
  if (!loop) return {};
  for (const auto& object : target.loaded_objects()) {
    if (object.path.find("python") == std::string::npos) continue;
    for (const auto& path : file_candidates(target, object.path)) {
      auto elf = read_elf(path);
      if (!elf) continue;
      auto link = elf->dynamic_symbol(kEvalLoop);
      auto hdr = elf->section(".eh_frame_hdr");
      if (!link || !hdr || hdr->size > kMaxEhFrameHdr) break;  // the file is there: not this object
      const uint64_t bias = *loop - *link;
      auto bytes = proc.mem().read_bytes(hdr->addr + bias, static_cast<std::size_t>(hdr->size));
      if (!bytes) return {};
      const auto starts = function_starts(*bytes, hdr->addr + bias);
      if (starts.size() < 2) return {};
      std::size_t widest = 0;
      for (std::size_t i = 1; i + 1 < starts.size(); ++i)
        if (starts[i + 1] - starts[i] > starts[widest + 1] - starts[widest]) widest = i;
      return EvalLoopCode{{{starts[widest], starts[widest + 1]}}};
    }
  }
  return {};
}

void name_eval_loop_frames(const EvalLoopCode& code, std::vector<NativeFrame>& frames) {
  if (code.ranges.empty()) return;
  for (std::size_t i = 0; i < frames.size(); ++i) {
    NativeFrame& f = frames[i];
    if (!f.function.empty()) continue;
    // Beyond the innermost frame, pc is a return address: it may be just past a call that ends
    // the range.
    if (code.contains(f.pc) || (i > 0 && f.pc > 0 && code.contains(f.pc - 1))) f.function = kEvalLoop;
  }
}

}  // namespace pyxray
