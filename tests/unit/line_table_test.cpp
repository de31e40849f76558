// Tests for the line-table decoders (core/line_table.*).
//
// Ground truth: tests/data/line_tables/<major>.<minor>.json, written by tools/gen_line_table_cases.py
// running inside each real interpreter (see the script's header for how to regenerate). Every
// instruction offset of every code object there carries the line that interpreter itself reports,
// cross-checked against its own PyCode_Addr2Line. The hand-written tests below pin the documented
// encodings and the behaviour on corrupt input, which no interpreter will hand us.
#include "interp/line_table.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace pyxray {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Bytes = std::vector<std::byte>;

constexpr LineTableFormat kAllFormats[] = {LineTableFormat::Lnotab27, LineTableFormat::Lnotab36,
                                           LineTableFormat::Linetable310, LineTableFormat::Locations311};

Bytes bytes(std::initializer_list<int> values) {
  Bytes out;
  for (int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

Bytes from_hex(const std::string& hex) {
  Bytes out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<std::byte>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

std::optional<LineTableFormat> parse_format(const std::string& name) {
  static const std::map<std::string, LineTableFormat> names = {{"Lnotab27", LineTableFormat::Lnotab27},
                                                               {"Lnotab36", LineTableFormat::Lnotab36},
                                                               {"Linetable310", LineTableFormat::Linetable310},
                                                               {"Locations311", LineTableFormat::Locations311}};
  auto it = names.find(name);
  if (it == names.end()) return std::nullopt;
  return it->second;
}

bool is_310_or_later(LineTableFormat f) {
  return f == LineTableFormat::Linetable310 || f == LineTableFormat::Locations311;
}

std::string show(std::optional<int> line) { return line ? std::to_string(*line) : "None"; }

std::optional<int> json_line(const json& value) {
  if (value.is_null()) return std::nullopt;
  return value.get<int>();
}

fs::path data_dir() { return fs::path(PYXRAY_TEST_DATA_DIR) / "line_tables"; }

std::vector<std::string> data_files() {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(data_dir(), ec)) {
    if (entry.path().extension() == ".json") files.push_back(entry.path().filename().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

json load(const std::string& file) {
  std::ifstream in(data_dir() / file);
  return json::parse(in, nullptr, /*allow_exceptions=*/false);
}

// --- ground truth from real interpreters ------------------------------------------------------

class LineTableGroundTruth : public ::testing::TestWithParam<std::string> {};

// Compares one code object; reports at most a few mismatches so a broken decoder stays readable.
int check_case(LineTableFormat format, const json& c) {
  constexpr int kMaxReported = 5;
  const Bytes table = from_hex(c.at("table").get<std::string>());
  const int first_line = c.at("first_line").get<int>();
  const int step = c.at("step").get<int>();
  const std::string name = fmt::format("{} [{}]", c.at("name").get<std::string>(), c.at("variant").get<std::string>());
  int checked = 0;
  int mismatches = 0;
  auto check = [&](int offset, std::optional<int> expected) {
    ++checked;
    auto actual = line_for_offset(format, table, first_line, offset);
    if (actual != expected && ++mismatches <= kMaxReported) {
      ADD_FAILURE() << fmt::format("{}: offset {}: expected {}, got {} (first_line {}, table {})", name, offset,
                                   show(expected), show(actual), first_line, c.at("table").get<std::string>());
    }
  };
  const json& lines = c.at("lines");
  for (std::size_t i = 0; i < lines.size(); ++i) check(static_cast<int>(i) * step, json_line(lines[i]));
  for (const json& probe : c.at("probes")) check(probe.at(0).get<int>(), json_line(probe.at(1)));
  return checked;
}

TEST_P(LineTableGroundTruth, EveryOffsetMatchesTheInterpreter) {
  const json data = load(GetParam());
  ASSERT_FALSE(data.is_discarded()) << "unparsable " << GetParam();
  auto format = parse_format(data.at("format").get<std::string>());
  ASSERT_TRUE(format.has_value()) << data.at("format");

  // The file's own version must map to the format it was decoded with.
  const std::string version = data.at("version").get<std::string>();
  int major = 0;
  int minor = 0;
  ASSERT_EQ(std::sscanf(version.c_str(), "%d.%d", &major, &minor), 2) << version;
  EXPECT_EQ(line_table_format(major, minor), *format) << version;

  int offsets = 0;
  for (const json& c : data.at("cases")) offsets += check_case(*format, c);
  EXPECT_GT(data.at("cases").size(), 30u);
  EXPECT_GT(offsets, 1000);
}

std::string file_test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = "v" + fs::path(info.param).stem().string();
  std::replace(name.begin(), name.end(), '.', '_');
  return name;
}

// The "LineTable" prefix keeps these under --gtest_filter=LineTable*.
INSTANTIATE_TEST_SUITE_P(LineTable, LineTableGroundTruth, ::testing::ValuesIn(data_files()), file_test_name);

// The data must keep exercising every encoding, whoever regenerates it: guards against a generator
// change (or a new compiler) silently dropping the interesting cases.
TEST(LineTableData, CoversEveryVersionFormatAndEncoding) {
  std::set<std::string> versions;
  std::set<std::string> features;
  for (const auto& file : data_files()) {
    const json data = load(file);
    ASSERT_FALSE(data.is_discarded()) << file;
    const std::string version = data.at("version").get<std::string>();
    versions.insert(version.substr(0, version.rfind('.')));
    const auto format = parse_format(data.at("format").get<std::string>()).value();
    for (const json& c : data.at("cases")) {
      const Bytes t = from_hex(c.at("table").get<std::string>());
      const bool real = c.at("variant") != "synthetic";
      auto at = [&](std::size_t i) { return std::to_integer<int>(t[i]); };
      if (t.empty()) features.insert("empty table");
      if (format == LineTableFormat::Locations311) {
        for (std::size_t i = 0; i < t.size(); ++i) {
          if ((at(i) & 0x80) == 0) continue;
          const int kind = (at(i) >> 3) & 15;
          features.insert(fmt::format("{} 3.11 kind {}", real ? "compiled" : "synthetic", kind));
          // 13 / 14: a line-delta varint of more than one chunk.
          if ((kind == 13 || kind == 14) && i + 1 < t.size() && (at(i + 1) & 64)) {
            features.insert(fmt::format("{} 3.11 multi-chunk varint", real ? "compiled" : "synthetic"));
          }
        }
        continue;
      }
      for (std::size_t i = 0; i + 1 < t.size(); i += 2) {
        const auto line_byte = static_cast<std::int8_t>(at(i + 1));
        if (format == LineTableFormat::Linetable310) {
          if (line_byte == -128) features.insert(fmt::format("{} 3.10 no line", real ? "compiled" : "synthetic"));
          if (at(i) == 0) features.insert("3.10 zero-length range");
          if (line_byte < 0 && line_byte != -128) features.insert("3.10 negative delta");
        } else {
          if (at(i) == 255) features.insert("lnotab 255-byte step");
          if (line_byte < 0 && format == LineTableFormat::Lnotab36) features.insert("3.6 negative delta");
          if (line_byte < 0 && format == LineTableFormat::Lnotab27) features.insert("2.7 increment > 127");
        }
      }
    }
  }
  for (const char* v : {"2.7", "3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13"}) {
    EXPECT_TRUE(versions.count(v)) << "no ground truth for " << v;
  }
  std::vector<std::string> wanted = {
      "empty table",           "3.10 zero-length range", "3.10 negative delta",
      "compiled 3.10 no line", "synthetic 3.10 no line", "lnotab 255-byte step",
      "3.6 negative delta",    "2.7 increment > 127",    "compiled 3.11 multi-chunk varint"};
  for (int kind = 0; kind < 16; ++kind) wanted.push_back(fmt::format("compiled 3.11 kind {}", kind));
  for (const auto& w : wanted) EXPECT_TRUE(features.count(w)) << "no case covers: " << w;
}

// --- version mapping --------------------------------------------------------------------------

TEST(LineTableFormat, MapsVersions) {
  EXPECT_EQ(line_table_format(2, 7), LineTableFormat::Lnotab27);
  EXPECT_EQ(line_table_format(3, 5), LineTableFormat::Lnotab27);
  for (int minor = 6; minor <= 9; ++minor) EXPECT_EQ(line_table_format(3, minor), LineTableFormat::Lnotab36);
  EXPECT_EQ(line_table_format(3, 10), LineTableFormat::Linetable310);
  for (int minor = 11; minor <= 15; ++minor) {
    EXPECT_EQ(line_table_format(3, minor), LineTableFormat::Locations311);
  }
}

// --- documented encodings, by hand ------------------------------------------------------------

TEST(LineTableKnownAnswers, LnotabNotesExample) {
  // Objects/lnotab_notes.txt: offsets 0, 6, 50, 350, 361 start lines 1, 2, 7, 207, 208, the 300-byte
  // and 200-line jump split as (255, 0) (45, 127) (0, 73).
  const Bytes t = bytes({6, 1, 44, 5, 255, 0, 45, 127, 0, 73, 11, 1});
  const std::map<int, int> expected = {{0, 1},   {5, 1},     {6, 2},     {49, 2},    {50, 7},
                                       {349, 7}, {350, 207}, {360, 207}, {361, 208}, {100000, 208}};
  for (auto format : {LineTableFormat::Lnotab27, LineTableFormat::Lnotab36}) {
    for (auto [offset, line] : expected) EXPECT_EQ(line_for_offset(format, t, 1, offset), line) << offset;
  }
}

TEST(LineTableKnownAnswers, LnotabSignedness) {
  // 0xfe is -2 from 3.6 on, +254 before.
  const Bytes t = bytes({2, 0xfe, 2, 5});
  EXPECT_EQ(line_for_offset(LineTableFormat::Lnotab36, t, 100, 1), 100);
  EXPECT_EQ(line_for_offset(LineTableFormat::Lnotab36, t, 100, 2), 98);
  EXPECT_EQ(line_for_offset(LineTableFormat::Lnotab36, t, 100, 4), 103);
  EXPECT_EQ(line_for_offset(LineTableFormat::Lnotab27, t, 100, 2), 354);
  EXPECT_EQ(line_for_offset(LineTableFormat::Lnotab27, t, 100, 4), 359);
}

TEST(LineTableKnownAnswers, Linetable310) {
  // [0,4) +1; two zero-length pairs carry +127 and the next range adds +3; [10,12) has no line
  // (-128, running line unchanged); [12,14) +2; nothing after 14.
  const Bytes t = bytes({4, 1, 0, 127, 6, 3, 2, 0x80, 2, 2});
  const std::map<int, std::optional<int>> expected = {
      {0, 11},   {3, 11},   {4, 141},          {9, 141}, {10, std::nullopt}, {11, std::nullopt},
      {12, 143}, {13, 143}, {14, std::nullopt}};
  for (auto [offset, line] : expected) {
    EXPECT_EQ(line_for_offset(LineTableFormat::Linetable310, t, 10, offset), line) << offset;
  }
}

TEST(LineTableKnownAnswers, Locations311EveryForm) {
  const Bytes t = bytes({
      0x80, 0x05,                          // short form 0, 1 unit: same line          [0, 2)
      0xd9, 0x04, 0x08,                    // one-line form +1, 2 units                [2, 6)
      0xea, 0x07,                          // no columns, svarint -3, 3 units          [6, 12)
      0xf8,                                // no location, 1 unit                      [12, 14)
      0xf7, 0x48, 0x03, 0x00, 0x05, 0x09,  // long form, svarint +100 (0x48 0x03 = 200), 8 units [14, 30)
      0xe0, 0x01, 0x02,                    // one-line form +2, 1 unit                 [30, 32)
  });
  const std::map<int, std::optional<int>> expected = {{0, 10},
                                                      {2, 11},
                                                      {4, 11},
                                                      {6, 8},
                                                      {10, 8},
                                                      {12, std::nullopt},
                                                      {14, 108},
                                                      {28, 108},
                                                      {30, 110},
                                                      {32, std::nullopt},
                                                      {1000, std::nullopt}};
  for (auto [offset, line] : expected) {
    EXPECT_EQ(line_for_offset(LineTableFormat::Locations311, t, 10, offset), line) << offset;
  }
}

// --- corrupt and edge-case input --------------------------------------------------------------

TEST(LineTableCorrupt, EmptyTable) {
  for (auto format : kAllFormats) {
    for (int offset : {0, 1, 2, 1000, INT_MAX}) {
      auto line = line_for_offset(format, {}, 42, offset);
      // <=3.9 reports co_firstlineno everywhere; 3.10+ has no range at all.
      if (is_310_or_later(format)) {
        EXPECT_EQ(line, std::nullopt) << offset;
      } else {
        EXPECT_EQ(line, 42) << offset;
      }
    }
  }
}

TEST(LineTableCorrupt, NegativeOffsetsReportFirstLine) {
  const Bytes t = bytes({0x80, 0x05, 2, 1, 0xd9, 0x04, 0x08});
  for (auto format : kAllFormats) {
    for (int offset : {-1, -2, -1000, INT_MIN}) EXPECT_EQ(line_for_offset(format, t, 7, offset), 7);
  }
  // 3.10+ never reports a negative line, not even a negative co_firstlineno.
  EXPECT_EQ(line_for_offset(LineTableFormat::Locations311, t, -5, -2), std::nullopt);
  EXPECT_EQ(line_for_offset(LineTableFormat::Lnotab36, t, -5, -2), -5);
}

TEST(LineTableCorrupt, OffsetsPastTheEnd) {
  const Bytes lnotab = bytes({4, 1, 4, 2});
  EXPECT_EQ(line_for_offset(LineTableFormat::Lnotab27, lnotab, 1, INT_MAX), 4);
  EXPECT_EQ(line_for_offset(LineTableFormat::Lnotab36, lnotab, 1, 8), 4);
  EXPECT_EQ(line_for_offset(LineTableFormat::Linetable310, lnotab, 1, 7), 4);
  EXPECT_EQ(line_for_offset(LineTableFormat::Linetable310, lnotab, 1, 8), std::nullopt);
  EXPECT_EQ(line_for_offset(LineTableFormat::Linetable310, lnotab, 1, INT_MAX), std::nullopt);
  const Bytes locations = bytes({0x81, 0x05});  // 2 units
  EXPECT_EQ(line_for_offset(LineTableFormat::Locations311, locations, 1, 2), 1);
  EXPECT_EQ(line_for_offset(LineTableFormat::Locations311, locations, 1, 4), std::nullopt);
  EXPECT_EQ(line_for_offset(LineTableFormat::Locations311, locations, 1, INT_MAX), std::nullopt);
}

TEST(LineTableCorrupt, OddLengthPairTables) {
  const Bytes t = bytes({4, 1, 7});  // the trailing byte is half a pair: never read
  EXPECT_EQ(line_for_offset(LineTableFormat::Lnotab36, t, 1, 3), 1);
  EXPECT_EQ(line_for_offset(LineTableFormat::Lnotab36, t, 1, 4), 2);
  EXPECT_EQ(line_for_offset(LineTableFormat::Lnotab27, t, 1, 100), 2);
  EXPECT_EQ(line_for_offset(LineTableFormat::Linetable310, t, 1, 3), 2);
  EXPECT_EQ(line_for_offset(LineTableFormat::Linetable310, t, 1, 4), std::nullopt);
  // A 3.10 table that ends in zero-length pairs covers nothing after them.
  EXPECT_EQ(line_for_offset(LineTableFormat::Linetable310, bytes({0, 5, 0, 5}), 1, 0), std::nullopt);
}

TEST(LineTableCorrupt, TruncatedLocationEntries) {
  // A no-columns entry whose varint says "more follows" at the end of the table.
  EXPECT_EQ(line_for_offset(LineTableFormat::Locations311, bytes({0xe8, 0x41}), 1, 0), std::nullopt);
  // Header with no varint at all (kinds 13 and 14).
  EXPECT_EQ(line_for_offset(LineTableFormat::Locations311, bytes({0xe8}), 1, 0), std::nullopt);
  EXPECT_EQ(line_for_offset(LineTableFormat::Locations311, bytes({0xf0}), 1, 0), std::nullopt);
  // Entries before the truncation still decode.
  const Bytes t = bytes({0x80, 0x00, 0xd8, 0x01, 0x02, 0xe8, 0x41});
  EXPECT_EQ(line_for_offset(LineTableFormat::Locations311, t, 1, 0), 1);
  EXPECT_EQ(line_for_offset(LineTableFormat::Locations311, t, 1, 2), 2);
  EXPECT_EQ(line_for_offset(LineTableFormat::Locations311, t, 1, 4), std::nullopt);
  // Short and one-line forms need no extra bytes for the line: a bare header still has one.
  EXPECT_EQ(line_for_offset(LineTableFormat::Locations311, bytes({0x80}), 1, 0), 1);
  EXPECT_EQ(line_for_offset(LineTableFormat::Locations311, bytes({0xe0}), 1, 0), 3);
}

TEST(LineTableCorrupt, HugeVarints) {
  // Six chunks hold 32 bits, as in CPython: 2 << 30 is svarint +2^30.
  EXPECT_EQ(line_for_offset(LineTableFormat::Locations311, bytes({0xe8, 0x40, 0x40, 0x40, 0x40, 0x40, 0x02}), 1, 0),
            1 + (1 << 30));
  // All 32 bits set: -(2^31 - 1), a negative line, which 3.10+ never reports.
  EXPECT_EQ(line_for_offset(LineTableFormat::Locations311, bytes({0xe8, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x3f}), 1, 0),
            std::nullopt);
  // A seventh chunk would shift past 32 bits: rejected.
  EXPECT_EQ(
      line_for_offset(LineTableFormat::Locations311, bytes({0xe8, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x01}), 1, 0),
      std::nullopt);
  // A megabyte of continuation chunks: rejected at once, no long loop.
  Bytes endless(1 << 20, std::byte{0x7f});
  endless[0] = std::byte{0xf0};
  EXPECT_EQ(line_for_offset(LineTableFormat::Locations311, endless, 1, 0), std::nullopt);
  EXPECT_EQ(line_for_offset(LineTableFormat::Locations311, endless, 1, INT_MAX), std::nullopt);
}

TEST(LineTableCorrupt, MissingEntryHeaderBit) {
  // CPython treats whatever byte it stands on as an entry header (0x05: short form, 6 units) and
  // skips to the next byte with bit 7 set; "no location" needs the full 0xf8-0xff pattern.
  const Bytes t = bytes({0x05, 0x80, 0x7f, 0xf8});
  EXPECT_EQ(line_for_offset(LineTableFormat::Locations311, t, 9, 0), 9);
  EXPECT_EQ(line_for_offset(LineTableFormat::Locations311, t, 9, 12), 9);
  EXPECT_EQ(line_for_offset(LineTableFormat::Locations311, t, 9, 14), std::nullopt);
  EXPECT_EQ(line_for_offset(LineTableFormat::Locations311, bytes({0x78}), 9, 0), 9);
}

TEST(LineTableCorrupt, LineArithmeticWrapsLikeCpythonsInt) {
  EXPECT_EQ(line_for_offset(LineTableFormat::Lnotab27, bytes({0, 1}), INT_MAX, 0), INT_MIN);
  EXPECT_EQ(line_for_offset(LineTableFormat::Lnotab36, bytes({0, 0xff}), INT_MIN, 0), INT_MAX);
  EXPECT_EQ(line_for_offset(LineTableFormat::Linetable310, bytes({2, 1}), INT_MAX, 0), std::nullopt);
}

TEST(LineTableCorrupt, RandomBytesNeverCrash) {
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> length(0, 80);
  std::uniform_int_distribution<int> any_offset(INT_MIN, INT_MAX);
  std::uniform_int_distribution<int> small_offset(-4, 600);
  for (int round = 0; round < 4000; ++round) {
    Bytes t(static_cast<std::size_t>(length(rng)));
    for (auto& b : t) b = static_cast<std::byte>(round % 3 == 0 ? (byte(rng) | 0x40) : byte(rng));
    const int first_line = round % 5 == 0 ? any_offset(rng) : byte(rng);
    for (auto format : kAllFormats) {
      for (int offset : {small_offset(rng), small_offset(rng), any_offset(rng), INT_MAX, INT_MIN, 0}) {
        auto line = line_for_offset(format, t, first_line, offset);
        EXPECT_EQ(line, line_for_offset(format, t, first_line, offset));  // deterministic
        if (is_310_or_later(format)) {
          EXPECT_TRUE(!line || *line >= 0) << "3.10+ never reports a negative line";
        } else {
          EXPECT_TRUE(line.has_value()) << "<=3.9 always reports a line";
        }
      }
    }
  }
}

}  // namespace
}  // namespace pyxray
