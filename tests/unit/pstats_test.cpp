// py-sample's pstats output: the marshal writer (core/sample/marshal_writer.cpp) byte for byte
// against what CPython's marshal.dumps(value, 2) gives, and a profile's stats (core/sample/pstats.cpp)
// loaded by pstats.Stats in Debian's python3 (every supported Python reads a real profile in
// tests/integration/sample_test.cpp).
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "sample/marshal_writer.hpp"
#include "sample/pstats.hpp"
#include "sample/stack_aggregate.hpp"

namespace pyxray {
namespace {

namespace fs = std::filesystem;
using namespace std::string_literals;

// The bytes below are what `marshal.dumps(value, 2)` prints in CPython 3.11.
TEST(Marshal, IntsFloatsStrTuplesDictsAsCPythonWritesThem) {
  auto bytes = [](auto write) {
    MarshalWriter m;
    write(m);
    return m.bytes();
  };
  EXPECT_EQ(bytes([](auto& m) { m.integer(1); }), "i\x01\x00\x00\x00"s);
  EXPECT_EQ(bytes([](auto& m) { m.integer(-2); }), "i\xfe\xff\xff\xff"s);
  // Past 32 bits: TYPE_LONG, 15-bit digits.
  EXPECT_EQ(bytes([](auto& m) { m.integer(2147483648); }), "l\x03\x00\x00\x00\x00\x00\x00\x00\x02\x00"s);
  EXPECT_EQ(bytes([](auto& m) { m.integer(-2147483653); }), "l\xfd\xff\xff\xff\x05\x00\x00\x00\x02\x00"s);
  EXPECT_EQ(bytes([](auto& m) { m.integer(1099511627776); }), "l\x03\x00\x00\x00\x00\x00\x00\x00\x00\x04"s);
  EXPECT_EQ(bytes([](auto& m) { m.real(1.5); }), "g\x00\x00\x00\x00\x00\x00\xf8?"s);
  EXPECT_EQ(bytes([](auto& m) { m.text("ab"); }),
            "u\x02\x00\x00\x00"
            "ab"s);
  EXPECT_EQ(bytes([](auto& m) { m.text("\xc3\xa9"); }), "u\x02\x00\x00\x00\xc3\xa9"s);
  // Not UTF-8: U+FFFD, which marshal's reader accepts.
  EXPECT_EQ(bytes([](auto& m) { m.text("\xff"); }), "u\x03\x00\x00\x00\xef\xbf\xbd"s);
  EXPECT_EQ(bytes([](auto& m) {
              m.tuple(2);
              m.integer(1);
              m.integer(2);
            }),
            "(\x02\x00\x00\x00i\x01\x00\x00\x00i\x02\x00\x00\x00"s);
  EXPECT_EQ(bytes([](auto& m) {
              m.dict_begin();
              m.dict_end();
            }),
            "{0"s);
  EXPECT_EQ(bytes([](auto& m) {
              m.dict_begin();
              m.tuple(3);
              m.text("a");
              m.integer(1);
              m.text("f");
              m.tuple(2);
              m.integer(1);
              m.integer(2);
              m.dict_end();
            }),
            "{(\x03\x00\x00\x00u\x01\x00\x00\x00"
            "ai\x01\x00\x00\x00u\x01\x00\x00\x00"
            "f(\x02\x00\x00\x00i\x01\x00\x00\x00i\x02\x00\x00\x00"
            "0"s);
}

std::string run(const std::string& command) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  ::pclose(p);
  return out;
}

// pstats.Stats in Debian's python3 over `bytes`: each function as "file:line(name) cc nc tottime
// cumtime", then its callers the same way, then the totals.
std::string stats_listing(const std::string& bytes) {
  const fs::path path = fs::temp_directory_path() / ("pyxray-pstats-test-" + std::to_string(::getpid()) + ".pstats");
  std::ofstream(path, std::ios::binary) << bytes;
  const char* script =
      "import pstats, sys\n"
      "st = pstats.Stats(sys.argv[1])\n"
      "for func, (cc, nc, tt, ct, callers) in sorted(st.stats.items()):\n"
      "    print('%s:%d(%s) %d %d %.4f %.4f' % (func + (cc, nc, tt, ct)))\n"
      "    for c, (cnc, ccc, ctt, cct) in sorted(callers.items()):\n"
      "        print('  <- %s:%d(%s) %d %d %.4f %.4f' % (c + (cnc, ccc, ctt, cct)))\n"
      "print('total', st.total_calls, '%.4f' % st.total_tt)\n";
  const fs::path script_path = path.string() + ".py";
  std::ofstream(script_path) << script;
  const std::string out = run("/usr/bin/python3 " + script_path.string() + " " + path.string() + " 2>&1");
  fs::remove(path);
  fs::remove(script_path);
  return out;
}

// main -> f -> g three times, main -> f twice, main -> f -> f (recursion) once, all in one thread;
// main -> g once in another; a sample interval of 10 ms.
TEST(Pstats, StatsLoadsTheProfileWithSampledTimes) {
  FrameTable frames;
  StackAggregate agg;
  uint32_t main_ = frames.intern({"<module>", "app.py", 10, false, 1});
  uint32_t f3 = frames.intern({"f", "app.py", 3, false, 2});
  uint32_t f4 = frames.intern({"f", "app.py", 4, false, 2});  // f at another line: the same function
  uint32_t g6 = frames.intern({"g", "app.py", 6, false, 5});
  uint32_t native = frames.intern({"memcpy", "libc.so.6", -1, true});
  uint32_t t0 = agg.add_thread({1, 100, "MainThread"});
  uint32_t t1 = agg.add_thread({2, 101, "worker"});
  for (int i = 0; i < 3; ++i) agg.add(t0, std::vector<uint32_t>{g6, f3, main_});
  for (int i = 0; i < 2; ++i) agg.add(t0, std::vector<uint32_t>{f4, main_});
  agg.add(t0, std::vector<uint32_t>{f3, f4, main_});
  agg.add(t1, std::vector<uint32_t>{native, g6, main_});

  const std::string out = stats_listing(pstats_file(agg, frames, 0.01));
  EXPECT_EQ(out,
            "app.py:1(<module>) 7 7 0.0000 0.0700\n"
            "app.py:2(f) 6 6 0.0300 0.0600\n"
            "  <- app.py:1(<module>) 6 6 0.0200 0.0600\n"
            "  <- app.py:2(f) 1 1 0.0100 0.0100\n"
            "app.py:5(g) 4 4 0.0300 0.0400\n"
            "  <- app.py:1(<module>) 1 1 0.0000 0.0100\n"
            "  <- app.py:2(f) 3 3 0.0300 0.0300\n"
            "libc.so.6:0(memcpy) 1 1 0.0100 0.0100\n"
            "  <- app.py:5(g) 1 1 0.0100 0.0100\n"
            "total 18 0.0700\n");
}

// No samples (every thread idle): still a file pstats loads, which says so.
TEST(Pstats, AProfileWithoutSamplesLoads) {
  FrameTable frames;
  StackAggregate agg;
  agg.add_thread({1, 100, "MainThread"});
  EXPECT_EQ(stats_listing(pstats_file(agg, frames, 0.01)), "~:0(<no samples>) 0 0 0.0000 0.0000\ntotal 0 0.0000\n");
}

}  // namespace
}  // namespace pyxray
