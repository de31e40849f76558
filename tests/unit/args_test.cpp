#include <gtest/gtest.h>

#include "commands/args.hpp"

namespace pyxray {
namespace {

const std::vector<FlagSpec> kFlags = {{"--json", false, ""}, {"--limit", true, ""}};

TEST(Args, TokenizesQuotesAndEscapes) {
  auto t = tokenize(R"(a "b c" 'd e' f\ g)");
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, (std::vector<std::string>{"a", "b c", "d e", "f g"}));
  EXPECT_FALSE(tokenize("\"open"));
}

TEST(Args, ParsesFlagsAndValues) {
  auto p = parse_args("py-x", "--json --limit 5 pos", kFlags, 1);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->has("--json"));
  EXPECT_EQ(p->value("--limit"), "5");
  EXPECT_EQ(p->positional, std::vector<std::string>{"pos"});
  auto q = parse_args("py-x", "--limit=7", kFlags, 0);
  ASSERT_TRUE(q);
  EXPECT_EQ(q->value("--limit"), "7");
}

// A flag given twice: value() is the last, values_given every one in order (py-sample's -o files,
// whose names may hold commas).
TEST(Args, KeepsEveryValueGiven) {
  auto p = parse_args("py-x", "--limit a,b --json --limit=c", kFlags, 0);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->value("--limit"), "c");
  using Given = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(p->values_given, (Given{{"--limit", "a,b"}, {"--limit", "c"}}));
}

TEST(Args, RejectsBadInputWithOneLine) {
  auto unknown = parse_args("py-x", "--nope", kFlags, 0);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().message, "py-x: unknown option '--nope' (see 'help py-x')");
  EXPECT_FALSE(parse_args("py-x", "--limit", kFlags, 0));
  EXPECT_FALSE(parse_args("py-x", "a b", kFlags, 1));
  EXPECT_FALSE(parse_args("py-x", "--json=1", kFlags, 0));
  EXPECT_FALSE(parse_count("--limit", "x", 1, 10));
  EXPECT_FALSE(parse_count("--limit", "11", 1, 10));
  EXPECT_EQ(*parse_count("--limit", "10", 1, 10), 10);
}

TEST(Args, NegativeNumbersArePositional) {
  auto p = parse_args("py-x", "-5", kFlags, 1);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->positional, std::vector<std::string>{"-5"});
}

}  // namespace
}  // namespace pyxray
