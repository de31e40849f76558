// What the fuzzers found, as plain tests: names from the target that are not UTF-8 or hold
// newlines, and objects whose sizes are absurd, must give well-formed answers (valid UTF-8 and JSON,
// one-line errors) and cheap failures, never exceptions or huge allocations.
#include <gtest/gtest.h>

#include <chrono>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/utf8.hpp"
#include "commands/session.hpp"
#include "interp/objects.hpp"
#include "interp/python_process.hpp"
#include "repr/repr.hpp"
#include "scene.hpp"

namespace pyxray {
namespace {

using namespace synthetic;
using json = nlohmann::json;

TEST(Utf8, SanitizeReplacesWhatPythonWouldRefuse) {
  EXPECT_EQ(sanitize_utf8("abc \xc3\xa9 \xf0\x9f\x98\x80"), "abc \xc3\xa9 \xf0\x9f\x98\x80");
  EXPECT_EQ(sanitize_utf8("\xff"), "\xef\xbf\xbd");
  EXPECT_EQ(sanitize_utf8("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");                  // a surrogate
  EXPECT_EQ(sanitize_utf8("\xc0\xaf"), "\xef\xbf\xbd\xef\xbf\xbd");                                  // overlong '/'
  EXPECT_EQ(sanitize_utf8("\xf4\x90\x80\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");  // > U+10FFFF
}

// A function whose co_name is a bytes object that is not UTF-8 and whose co_filename holds a newline.
TEST(HostileTarget, NamesThatAreNotTextGiveValidOutput) {
  ProcessBuilder b(kPy312);
  uint64_t code = b.code({"f", "f", "/srv/app/main.py", 1, true, false, 0, {"x"}, {1, 1, 2, 2}});
  b.put_u64(code + b.layout().code_co_name, b.bytes("\xff\xfe\x03name"));
  b.put_u64(code + b.layout().code_co_qualname, b.bytes("q\xc3"));
  b.put_u64(code + b.layout().code_co_filename, b.str("/srv/no\nsuch\rfile.py"));
  int t = b.add_thread(4242, 0x7f0000001000, "python3", "MainThread");
  uint64_t globals = b.dict_str({});
  b.push_frame(t, code, 2, {b.integer(1)}, globals);
  b.finish_modules(globals);
  Session session(b.target(nullptr, 4242));

  for (const char* args : {"--json", "", "--locals --json"}) {
    CommandResult r = session.run("py-bt-all", args);
    ASSERT_TRUE(r.ok) << r.output;
    EXPECT_EQ(sanitize_utf8(r.output), r.output);
    if (std::string_view(args).find("--json") != std::string_view::npos) {
      json j = json::parse(r.output);
      EXPECT_EQ(j["threads"][0]["frames"][0]["function"], "\xef\xbf\xbd\xef\xbf\xbd\x03name");
    }
  }
  // py-list cannot read the file: one line, the newline in its name escaped.
  CommandResult list = session.run("py-list", "");
  ASSERT_FALSE(list.ok);
  EXPECT_EQ(list.output.find('\n'), std::string::npos) << list.output;
  EXPECT_NE(list.output.find("/srv/no\\nsuch\\rfile.py"), std::string::npos) << list.output;
  CommandResult locals = session.run("py-locals", "--json");
  ASSERT_TRUE(locals.ok) << locals.output;
  json parsed;  // a void cast does not quiet gcc's warn_unused_result
  EXPECT_NO_THROW(parsed = json::parse(locals.output));
}

// A name with a NUL in it (Python allows one; a layout that does not fit the build makes them
// common): gdb's Python refuses such text, so every output shows it escaped.
TEST(HostileTarget, NulInANameIsEscaped) {
  ProcessBuilder b(kPy312);
  uint64_t code = b.code({"f", "f", "/srv/app/main.py", 1, true, false, 0, {"x"}, {1, 1, 2, 2}});
  b.put_u64(code + b.layout().code_co_name, b.str(std::string_view("f\0g", 3)));
  b.put_u64(code + b.layout().code_co_qualname, b.str(std::string_view("f\0g", 3)));
  int t = b.add_thread(4242, 0x7f0000001000, "python3", "MainThread");
  uint64_t globals = b.dict_str({});
  b.push_frame(t, code, 2, {b.integer(1)}, globals);
  b.finish_modules(globals);
  Session session(b.target(nullptr, 4242));
  for (const auto& [name, args] : std::vector<std::pair<std::string, std::string>>{
           {"py-bt-all", ""}, {"py-bt", ""}, {"py-print", fmt::format("{:#x}", code)}, {"py-bt-all", "--json"}}) {
    CommandResult r = session.run(name, args);
    ASSERT_TRUE(r.ok) << name << ": " << r.output;
    EXPECT_EQ(r.output.find('\0'), std::string::npos) << name << " " << args;
    EXPECT_NE(r.output.find(args == "--json" ? "f\\u0000g" : "f\\x00g"), std::string::npos) << r.output;
  }
}

// Sizes that no object has: the decoders must refuse them cheaply (a repr that read every entry a
// corrupt dict claims would allocate gigabytes first).
TEST(HostileTarget, AbsurdSizesFailFast) {
  for (uint32_t version : {kPy310, kPy312}) {
    SCOPED_TRACE(fmt::format("{:x}", version));
    Scene scene = standard_scene(version);
    ProcessBuilder& b = *scene.builder;
    const Layout& L = b.layout();
    uint64_t keys = b.image()->read_u64(scene.root + L.dict_ma_keys);
    if (L.dictkeys_dk_log2_size != kAbsent) {
      b.put_u8(keys + L.dictkeys_dk_log2_size, 26);  // 2^26 slots, every one of them an entry
      b.put_u64(keys + L.dictkeys_dk_nentries, uint64_t{1} << 26);
    } else {
      b.put_u64(keys + L.dictkeys_dk_size, 0x7000000000000000);  // size * index width overflows
    }
    uint64_t big = 0;
    for (const auto& [addr, text] : scene.reprs)
      if (text == "-12345678901234567") big = addr;
    if (L.long_lv_tag != kAbsent) b.put_u64(big + L.long_lv_tag, ~uint64_t{3});  // 2^61 digits
    else b.put_u64(big + L.varobject_ob_size, 0x8000000000000000);               // INT64_MIN

    auto target = b.target();
    auto proc = PythonProcess::open(*target);
    ASSERT_TRUE(proc) << proc.error().message;
    Objects objects(**proc);
    auto start = std::chrono::steady_clock::now();
    std::string root = safe_repr(**proc, objects, scene.root);
    EXPECT_NE(root.find("unreadable"), std::string::npos) << root;
    std::string num = safe_repr(**proc, objects, big);
    EXPECT_NE(num.find("unreadable"), std::string::npos) << num;
    EXPECT_FALSE(objects.read_int(big));
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  }
}

// py-sizeof --deep of a tuple holding a list whose item array cannot be read: the deep size is
// partial and says which object could not be read, and why (it used to say only "some memory was
// unreadable").
TEST(HostileTarget, PartialDeepSizeSaysWhatCouldNotBeRead) {
  ProcessBuilder b(kPy312);
  constexpr uint64_t kUnmapped = 0x7ff000000000;
  uint64_t broken = b.list({b.integer(1), b.integer(2)});
  b.put_u64(broken + b.layout().list_ob_item, kUnmapped);
  uint64_t holder = b.tuple({broken, b.str("x")});
  uint64_t code = b.code({"f", "f", "/srv/app/main.py", 1, true, false, 0, {"x"}, {1, 1, 2, 2}});
  int t = b.add_thread(4242, 0x7f0000001000, "python3", "MainThread");
  uint64_t globals = b.dict_str({});
  b.push_frame(t, code, 2, {holder}, globals);
  b.finish_modules(globals);
  Session session(b.target(nullptr, 4242));

  CommandResult r = session.run("py-sizeof", fmt::format("{:#x} --deep", holder));
  ASSERT_TRUE(r.ok) << r.output;
  const std::string why = fmt::format(
      "1 object could not be read: {:#x} (list): cannot read the references it keeps at {:#x}", broken, kUnmapped);
  EXPECT_NE(r.output.find("pyxray: warning: the deep size is partial: " + why + "\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(" bytes in 3 objects ("), std::string::npos) << r.output;
  CommandResult j = session.run("py-sizeof", fmt::format("{:#x} --deep --json", holder));
  ASSERT_TRUE(j.ok) << j.output;
  json parsed = json::parse(j.output);
  EXPECT_EQ(parsed["partial"], true);
  EXPECT_EQ(parsed["partial_reason"], why);
  EXPECT_EQ(parsed["deep_objects"], 3);
}

}  // namespace
}  // namespace pyxray
