// The 3.11+ exception table decoder (core/interp/exception_table.*) on a real table, and on damaged
// ones, which it must refuse rather than misread.
#include "interp/exception_table.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace pyxray {
namespace {

std::vector<std::byte> from_hex(const std::string& hex) {
  std::vector<std::byte> out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<std::byte>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

// co_exceptiontable of this function under CPython 3.11.7 (118 code units):
//   def f(a, b):
//       x = 1
//       with a:
//           with b as y:
//               g()
//           try:
//               h()
//           except E:
//               k()
constexpr const char* kTable311 =
    "8503412903880f2305970c412903a3042709a703412903aa012709ab03412903af0e3e02bd01412903be18411905c11602412903c1"
    "1801411905c11903412903c12904412d07c13001412d07";
constexpr int kUnits311 = 118;

// What dis._parse_exception_table reports for it: start, end (exclusive), target, depth, lasti.
const std::vector<ExceptionHandler> kEntries311 = {
    {5, 8, 105, 1, true},   {8, 23, 35, 2, true},     {23, 35, 105, 1, true},   {35, 39, 39, 4, true},
    {39, 42, 105, 1, true}, {42, 43, 39, 4, true},    {43, 46, 105, 1, true},   {47, 61, 62, 1, false},
    {61, 62, 105, 1, true}, {62, 86, 89, 2, true},    {86, 88, 105, 1, true},   {88, 89, 89, 2, true},
    {89, 92, 105, 1, true}, {105, 109, 109, 3, true}, {112, 113, 109, 3, true},
};

TEST(ExceptionTable, DecodesARealTable) {
  auto table = parse_exception_table(from_hex(kTable311), kUnits311);
  ASSERT_TRUE(table) << table.error().message;
  ASSERT_EQ(table->size(), kEntries311.size());
  for (std::size_t i = 0; i < kEntries311.size(); ++i) {
    const auto& got = (*table)[i];
    const auto& want = kEntries311[i];
    EXPECT_EQ(got.start, want.start) << i;
    EXPECT_EQ(got.end, want.end) << i;
    EXPECT_EQ(got.target, want.target) << i;
    EXPECT_EQ(got.depth, want.depth) << i;
    EXPECT_EQ(got.lasti, want.lasti) << i;
  }
}

// From g()'s call (unit 17) the handlers go: the inner with's (35), its cleanup (39), the outer
// with's (105), its cleanup (109), then nothing.
TEST(ExceptionTable, HandlerChainFromAnInstruction) {
  auto table = parse_exception_table(from_hex(kTable311), kUnits311);
  ASSERT_TRUE(table);
  std::vector<int> targets;
  for (const ExceptionHandler* h = handler_at(*table, 17); h && targets.size() < 10; h = handler_at(*table, h->target))
    targets.push_back(h->target);
  EXPECT_EQ(targets, (std::vector<int>{35, 39, 105, 109}));
  EXPECT_EQ(handler_at(*table, 0), nullptr);
  EXPECT_EQ(handler_at(*table, 46), nullptr);  // between entries
  EXPECT_EQ(handler_at(*table, 117), nullptr);
  ASSERT_NE(handler_at(*table, 8), nullptr);
  EXPECT_EQ(handler_at(*table, 8)->depth, 2);
  EXPECT_EQ(handler_at(*table, 7)->depth, 1);
}

TEST(ExceptionTable, RefusesDamagedTables) {
  const auto table = from_hex(kTable311);
  EXPECT_TRUE(parse_exception_table({}, kUnits311)) << "an empty table is a code without handlers";
  // Cut inside an entry, or inside a number.
  EXPECT_FALSE(parse_exception_table(std::span(table).first(3), kUnits311));
  EXPECT_FALSE(parse_exception_table(std::span(table).first(table.size() - 1), kUnits311));
  // A code shorter than the table's offsets and targets.
  EXPECT_FALSE(parse_exception_table(table, 100));
  // An entry start without its marker, a marker inside an entry.
  auto unmarked = table;
  unmarked[0] &= std::byte{0x7f};
  EXPECT_FALSE(parse_exception_table(unmarked, kUnits311));
  auto marked = table;
  marked[1] |= std::byte{0x80};
  EXPECT_FALSE(parse_exception_table(marked, kUnits311));
  // Entries out of order (the second before the first ends): swap the first two entries' bytes.
  auto overlapping = from_hex(
      "88"
      "0f2305"
      "85"
      "03412903");
  EXPECT_FALSE(parse_exception_table(overlapping, kUnits311));
  // A number of more than five 6-bit groups.
  EXPECT_FALSE(parse_exception_table(from_hex("c0404040404001010101"), kUnits311));
}

}  // namespace
}  // namespace pyxray
