#include "interp/interp_scan.hpp"

#include <cstring>
#include <unordered_set>

#include <fmt/format.h>

#include "base/limits.hpp"
#include "interp/objects.hpp"
#include "interp/python_process.hpp"
#include "target/elf_file.hpp"

namespace pyxray {
namespace {

bool plausible_pointer(uint64_t p) { return p >= 0x10000 && p % 8 == 0 && p < (uint64_t{1} << 56); }

// An interpreter state's first thread state points back to it, and its modules are a dict.
bool is_interpreter(PythonProcess& proc, Objects& objects, uint64_t interp) {
  const Layout& L = proc.layout();
  Memory& m = proc.mem();
  auto tstate = m.read_ptr(interp + L.interp_tstate_head);
  if (!tstate || !plausible_pointer(*tstate)) return false;
  auto back = m.read_ptr(*tstate + L.tstate_interp);
  if (!back || *back != interp) return false;
  auto modules = m.read_ptr(interp + L.interp_modules);
  if (!modules || !plausible_pointer(*modules)) return false;
  auto type = objects.type_name(*modules);
  return type && *type == "dict";
}

}  // namespace

Expected<uint64_t> scan_for_interp_head(PythonProcess& proc, const ElfFile& elf, uint64_t bias) {
  Objects objects(proc);
  std::unordered_set<uint64_t> rejected;
  std::size_t examined = 0;
  const auto max_words = static_cast<std::size_t>(limits().scan_words);
  bool cut = false;
  // interp_head is zero-initialised, so it lives in .bss; .data is the fallback for odd builds.
  for (const char* name : {".bss", ".data"}) {
    auto section = elf.section(name);
    if (!section || section->size == 0) continue;
    uint64_t start = section->addr + bias;
    std::size_t words = std::min<std::size_t>(section->size / 8, max_words - examined);
    cut = cut || words < section->size / 8;
    auto raw = proc.mem().read_bytes(start, words * 8);
    if (!raw) continue;
    for (std::size_t i = 0; i < words; ++i, ++examined) {
      uint64_t p = 0;
      std::memcpy(&p, raw->data() + i * 8, 8);
      if (!plausible_pointer(p) || rejected.contains(p)) continue;
      if (is_interpreter(proc, objects, p)) return start + i * 8;
      rejected.insert(p);
    }
  }
  if (cut)
    return fail(fmt::format("no interpreter state found in the first {} words of {}'s data ({})", max_words, elf.path,
                            raise_hint("scan-words")));
  return fail(fmt::format("no interpreter state found in the data of {} (is the interpreter initialised?)", elf.path));
}

}  // namespace pyxray
