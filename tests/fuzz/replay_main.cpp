// The driver of a fuzz target outside libFuzzer: replays inputs (files, or every file in a
// directory) through LLVMFuzzerTestOneInput, so that the committed corpus is a regression test in
// every build, sanitized or not; and writes the target's seeds (--write-seeds DIR).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz_support.hpp"

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--write-seeds") {
    fs::create_directories(argv[2]);
    for (const auto& seed : pyxray_fuzz_seeds()) {
      std::ofstream out(fs::path(argv[2]) / ("seed-" + seed.name), std::ios::binary);
      out.write(reinterpret_cast<const char*>(seed.data.data()), static_cast<std::streamsize>(seed.data.size()));
      std::printf("wrote %s (%zu bytes)\n", ("seed-" + seed.name).c_str(), seed.data.size());
    }
    return 0;
  }
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE|DIR...   (replay inputs)\n       %s --write-seeds DIR\n", argv[0], argv[0]);
    return 2;
  }
  std::vector<fs::path> inputs;
  for (int i = 1; i < argc; ++i) {
    fs::path p = argv[i];
    if (fs::is_directory(p)) {
      for (const auto& e : fs::directory_iterator(p))
        if (e.is_regular_file()) inputs.push_back(e.path());
    } else {
      inputs.push_back(p);
    }
  }
  std::sort(inputs.begin(), inputs.end());
  if (inputs.empty()) {
    std::fprintf(stderr, "no inputs\n");
    return 2;
  }
  for (const auto& p : inputs) {
    std::ifstream in(p, std::ios::binary);
    std::vector<uint8_t> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::fprintf(stderr, "replay %s (%zu bytes)\n", p.c_str(), data.size());
    LLVMFuzzerTestOneInput(data.data(), data.size());
  }
  std::printf("%zu inputs replayed\n", inputs.size());
  return 0;
}
