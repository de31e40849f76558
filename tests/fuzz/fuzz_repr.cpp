// Object reprs: safe_repr (and the object decoders under it: str of every kind, bytes, int, float,
// tuple, list, dict in both layouts, set, types, instances and their __dict__, modules, functions,
// code, cells) over mutated object memory, with the default limits and with tiny ones, plus
// check_object and py-print.
//
// Input: [selector][8-byte address, little-endian][window bytes...]. Besides the scene's own
// objects, the address (anything the fuzzer likes, usually somewhere in the image) is printed too.
#include <cstring>

#include <fmt/format.h>

#include "fuzz_support.hpp"
#include "interp/objects.hpp"
#include "interp/python_process.hpp"
#include "repr/repr.hpp"

using namespace pyxray;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 9) return 0;
  auto& all = fuzz::scenes(/*pymalloc=*/false);
  fuzz::MutableScene& scene = all[data[0] % all.size()];
  uint64_t extra = 0;
  std::memcpy(&extra, data + 1, 8);
  auto overlay = scene.apply({data + 9, size - 9});

  auto target = scene.target();
  auto proc = PythonProcess::open(*target);
  if (!proc) return 0;
  Objects objects(**proc);
  std::vector<uint64_t> addrs{scene.scene().root, extra};
  for (const auto& [addr, text] : scene.scene().reprs) addrs.push_back(addr);
  const ReprLimits tiny{.max_depth = 1, .max_items = 2, .max_string = 5, .max_output = 48};
  // The output stops growing once past max_output, but the piece that crossed it (an element, or an
  // "<... (unreadable: why)>" note with a type name of up to 200 bytes in it) is kept whole.
  constexpr std::size_t kSlack = 4096;
  for (uint64_t a : addrs) {
    std::string full = safe_repr(**proc, objects, a);
    fuzz::check_utf8(full, "repr");
    if (full.size() > static_cast<std::size_t>(Limits{}.repr_length) + kSlack)
      fuzz::finding(fmt::format("repr of {:#x} is {} bytes: {}", a, full.size(), full.substr(0, 300)));
    std::string cut = safe_repr(**proc, objects, a, tiny);
    fuzz::check_utf8(cut, "tiny repr");
    if (cut.size() > tiny.max_output + kSlack)
      fuzz::finding(fmt::format("tiny repr of {:#x} is {} bytes: {}", a, cut.size(), cut));
    (void)check_object(**proc, objects, a);
    (void)objects.read_text(a, 64);
    (void)objects.read_int(a);
  }

  Session session(scene.target(4242));
  fuzz::run_checked(session, "py-print", fmt::format("{:#x} --json", scene.scene().root));
  fuzz::run_checked(session, "py-print", fmt::format("{:#x}", extra));
  return 0;
}

std::vector<fuzz::Seed> pyxray_fuzz_seeds() {
  // The extra address of each seed: the scene's root dict, printed twice then.
  std::vector<fuzz::Seed> out;
  for (std::size_t i = 0; i < fuzz::scenes(false).size(); ++i) {
    uint64_t root = fuzz::scenes(false)[i].scene().root;
    fuzz::Bytes addr(8);
    std::memcpy(addr.data(), &root, 8);
    auto seeds = fuzz::scene_seeds("repr", false, addr);
    out.push_back(std::move(seeds[i]));
  }
  return out;
}
