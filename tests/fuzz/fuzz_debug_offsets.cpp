// _Py_DebugOffsets validation: parse_debug_offsets over arbitrary bytes with each expected version,
// and a mutated block at the start of _PyRuntime of the 3.13 and 3.14 scenes, through
// PythonProcess::open (the layout the block yields, topped up from the tables) into py-layout and
// py-bt-all.
//
// Input: [mode][bytes...]. Even mode: the bytes are a block, parsed with expected version
// (none, 3.13, 3.14, 3.15)[mode / 2 % 4]. Odd mode: the bytes replace the first bytes of
// _PyRuntime of the 3.13 (mode / 2 even) or 3.14 scene.
#include <fstream>
#include <iterator>

#include "fuzz_support.hpp"
#include "interp/python_process.hpp"
#include "layout/debug_offsets.hpp"
#include "synthetic_image.hpp"

using namespace pyxray;

namespace {

fuzz::MutableScene& scene_for(int minor) {
  for (auto& s : fuzz::scenes(false))
    if (s.scene().builder->version().minor == minor) return s;
  fuzz::finding("no scene for the version");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const unsigned mode = data[0];
  std::span<const uint8_t> rest(data + 1, size - 1);
  if (mode % 2 == 0) {
    static const std::optional<PyVersion> expected[] = {std::nullopt, PyVersion{3, 13}, PyVersion{3, 14},
                                                        PyVersion{3, 15}};
    auto parsed = parse_debug_offsets(std::as_bytes(rest), 0x7f3a5d800000, expected[mode / 2 % 4]);
    if (parsed) {
      for (const auto& [key, value] : parsed->offsets)
        if (value < 0) fuzz::finding("a validated block has a negative offset for " + key);
    }
    return 0;
  }
  fuzz::MutableScene& scene = scene_for(mode / 2 % 2 == 0 ? 13 : 14);
  // The block is the scene's first window (_PyRuntime is the lowest address written... after
  // .rodata's Py_Version): lay the bytes over _PyRuntime itself.
  auto image = scene.scene().builder->image();
  const uint64_t runtime = 0x7f3a5d800000;
  std::vector<std::byte> saved(std::min<std::size_t>(rest.size(), 4096));
  image->read(runtime, saved);
  image->write(runtime, std::as_bytes(rest.first(saved.size())));
  {
    auto target = scene.target();
    (void)PythonProcess::open(*target);
    Session session(scene.target());
    fuzz::run_checked(session, "py-layout", "--json");
    fuzz::run_checked(session, "py-bt-all", "--json");
  }
  image->write(runtime, saved);
  return 0;
}

std::vector<fuzz::Seed> pyxray_fuzz_seeds() {
  std::vector<fuzz::Seed> out;
  auto block = [&](std::string name, uint8_t mode, std::vector<std::byte> bytes) {
    fuzz::Bytes data{mode};
    for (std::byte b : bytes) data.push_back(static_cast<uint8_t>(b));
    out.push_back({std::move(name), std::move(data)});
  };
  std::ifstream in(PYXRAY_TEST_DATA_DIR "/debug_offsets/cpython-3.13.0-pyruntime.bin", std::ios::binary);
  std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> real313(raw.size());
  std::memcpy(real313.data(), raw.data(), raw.size());
  block("parse-3.13.0-real", 2, real313);
  block("parse-3.14", 4, synthetic::debug_offsets_block(0x030e06f0, false, synthetic::debug_offsets_314()));
  block("parse-3.15", 6, synthetic::debug_offsets_block(0x030f00f0, false, synthetic::debug_offsets_315()));
  block("parse-3.14-free-threaded", 4,
        synthetic::debug_offsets_block(0x030e06f0, true, synthetic::debug_offsets_314()));
  block("runtime-3.13.0-real", 1, real313);
  block("runtime-3.14", 3, synthetic::debug_offsets_block(0x030e06f0, false, synthetic::debug_offsets_314()));
  return out;
}
