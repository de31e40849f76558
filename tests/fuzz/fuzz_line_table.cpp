// Line tables: every format (2.7 and 3.6-3.9 co_lnotab, 3.10 co_linetable, the 3.11+ location
// table) over arbitrary bytes, at many offsets.
//
// Input: [format][first_line: int32][probe offset: int32][table bytes...].
#include <climits>
#include <cstring>
#include <fstream>
#include <iterator>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "fuzz_support.hpp"
#include "interp/line_table.hpp"

using namespace pyxray;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 9) return 0;
  const auto format = static_cast<LineTableFormat>(data[0] % 4);
  int32_t first_line = 0, probe = 0;
  std::memcpy(&first_line, data + 1, 4);
  std::memcpy(&probe, data + 5, 4);
  std::span<const std::byte> table(reinterpret_cast<const std::byte*>(data + 9), size - 9);
  const int end = static_cast<int>(std::min<std::size_t>(table.size(), 1 << 20)) * 2;
  for (int offset : {probe, -1, INT_MIN, INT_MAX, end - 2, end, end + 2})
    (void)line_for_offset(format, table, first_line, offset);
  for (int offset = 0; offset < std::min(end + 4, 512); ++offset)
    (void)line_for_offset(format, table, first_line, offset);
  return 0;
}

std::vector<fuzz::Seed> pyxray_fuzz_seeds() {
  // Real tables: the first cases of every version's data (tests/data/line_tables, written by CPython).
  std::vector<fuzz::Seed> out;
  const std::pair<const char*, int> versions[] = {{"2.7", 0},  {"3.6", 1},  {"3.9", 1}, {"3.10", 2},
                                                  {"3.11", 3}, {"3.12", 3}, {"3.13", 3}};
  for (auto [version, format] : versions) {
    std::ifstream in(fmt::format("{}/line_tables/{}.json", PYXRAY_TEST_DATA_DIR, version));
    auto j = nlohmann::json::parse(in);
    int n = 0;
    for (const auto& c : j["cases"]) {
      std::string hex = c["table"];
      if (hex.size() / 2 > 256 || n >= 3) continue;
      fuzz::Bytes data{static_cast<uint8_t>(format)};
      int32_t first = c["first_line"].get<int32_t>(), probe = static_cast<int32_t>(c["code_size"].get<int>() / 2);
      data.insert(data.end(), reinterpret_cast<uint8_t*>(&first), reinterpret_cast<uint8_t*>(&first) + 4);
      data.insert(data.end(), reinterpret_cast<uint8_t*>(&probe), reinterpret_cast<uint8_t*>(&probe) + 4);
      for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
        data.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
      out.push_back({fmt::format("{}-{}", version, n++), std::move(data)});
    }
  }
  return out;
}
