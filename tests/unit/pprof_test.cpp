// py-sample's pprof writer (core/sample/pprof.cpp), read back by a small protobuf reader written here
// from the wire format's rules: gunzipped, the Profile message must hold the samples, locations,
// functions, thread labels and string table profile.proto describes. (`go tool pprof` reads real
// profiles in tests/integration/sample_test.cpp.)
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/gzip.hpp"
#include "sample/pprof.hpp"
#include "sample/stack_aggregate.hpp"

namespace pyxray {
namespace {

// One decoded field: a varint, or the bytes of a length-delimited one.
struct Field {
  uint64_t number = 0;
  std::string bytes;
};
using Message = std::multimap<uint32_t, Field>;

uint64_t read_varint(const std::string& in, std::size_t& at) {
  uint64_t v = 0;
  for (int shift = 0; at < in.size() && shift < 64; shift += 7) {
    auto b = static_cast<uint8_t>(in[at++]);
    v |= uint64_t{b & 0x7fu} << shift;
    if (!(b & 0x80)) return v;
  }
  ADD_FAILURE() << "a varint runs off the end";
  return v;
}

Message parse(const std::string& in) {
  Message m;
  std::size_t at = 0;
  while (at < in.size()) {
    uint64_t tag = read_varint(in, at);
    Field f;
    if ((tag & 7) == 0) {
      f.number = read_varint(in, at);
    } else if ((tag & 7) == 2) {
      uint64_t n = read_varint(in, at);
      EXPECT_LE(at + n, in.size());
      f.bytes = in.substr(at, n);
      at += n;
    } else {
      ADD_FAILURE() << "wire type " << (tag & 7) << " is not one the writer uses";
      return m;
    }
    m.emplace(static_cast<uint32_t>(tag >> 3), std::move(f));
  }
  return m;
}

std::vector<uint64_t> packed(const std::string& bytes) {
  std::vector<uint64_t> out;
  std::size_t at = 0;
  while (at < bytes.size()) out.push_back(read_varint(bytes, at));
  return out;
}

uint64_t number(const Message& m, uint32_t field) {
  auto it = m.find(field);
  return it == m.end() ? 0 : it->second.number;
}

std::vector<const Field*> all(const Message& m, uint32_t field) {
  std::vector<const Field*> out;
  for (auto [it, end] = m.equal_range(field); it != end; ++it) out.push_back(&it->second);
  return out;
}

std::string gunzip(const std::string& in) {
  z_stream z{};
  EXPECT_EQ(inflateInit2(&z, 15 + 16), Z_OK);  // gzip only
  std::string out(1 << 20, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(inflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  inflateEnd(&z);
  return out;
}

// main -> f -> g three times, main -> f twice, main -> f -> f (recursion) once, in MainThread;
// main -> g once in "worker".
struct Fixture {
  FrameTable frames;
  StackAggregate agg;
  uint32_t main_ = 0, f3 = 0, g6 = 0;
  Fixture() {
    main_ = frames.intern({"<module>", "app.py", 10, false, 1});
    f3 = frames.intern({"f", "app.py", 3, false, 2});
    g6 = frames.intern({"g", "app.py", 6, false, 5});
    uint32_t t0 = agg.add_thread({1, 100, "MainThread"});
    uint32_t t1 = agg.add_thread({2, 101, "worker"});
    for (int i = 0; i < 3; ++i) agg.add(t0, std::vector<uint32_t>{g6, f3, main_});
    for (int i = 0; i < 2; ++i) agg.add(t0, std::vector<uint32_t>{f3, main_});
    agg.add(t0, std::vector<uint32_t>{f3, f3, main_});
    agg.add(t1, std::vector<uint32_t>{g6, main_});
  }
};

TEST(Pprof, GzipRoundTrips) {
  std::string data;
  for (int i = 0; i < 100000; ++i) data += std::to_string(i);
  auto gz = gzip_compress(data);
  ASSERT_TRUE(gz) << gz.error().message;
  ASSERT_GE(gz->size(), 2u);
  EXPECT_EQ(static_cast<uint8_t>((*gz)[0]), 0x1f);  // the gzip magic
  EXPECT_EQ(static_cast<uint8_t>((*gz)[1]), 0x8b);
  EXPECT_LT(gz->size(), data.size());
  EXPECT_EQ(gunzip(*gz), data);
}

TEST(Pprof, ProfileHoldsSamplesLocationsFunctionsAndThreads) {
  Fixture fx;
  PprofInfo info;
  info.interval_seconds = 0.01;
  info.time_nanos = 1'700'000'000'000'000'000;
  info.duration_nanos = 2'000'000'000;
  info.comment = "py-sample of process 1";
  info.binary = "python3.12.1";
  auto file = pprof_file(fx.agg, fx.frames, info);
  ASSERT_TRUE(file) << file.error().message;
  const std::string raw = gunzip(*file);
  EXPECT_EQ(raw, pprof_proto(fx.agg, fx.frames, info));
  Message p = parse(raw);

  std::vector<std::string> strings;
  for (const Field* f : all(p, 6)) strings.push_back(f->bytes);
  ASSERT_FALSE(strings.empty());
  EXPECT_EQ(strings[0], "");
  auto str = [&](uint64_t i) { return i < strings.size() ? strings[i] : "<bad index " + std::to_string(i) + ">"; };

  auto types = all(p, 1);
  ASSERT_EQ(types.size(), 2u);
  EXPECT_EQ(str(number(parse(types[0]->bytes), 1)), "samples");
  EXPECT_EQ(str(number(parse(types[0]->bytes), 2)), "count");
  EXPECT_EQ(str(number(parse(types[1]->bytes), 1)), "wall");
  EXPECT_EQ(str(number(parse(types[1]->bytes), 2)), "nanoseconds");
  EXPECT_EQ(number(p, 9), uint64_t{1'700'000'000'000'000'000});
  EXPECT_EQ(number(p, 10), uint64_t{2'000'000'000});
  EXPECT_EQ(number(p, 12), uint64_t{10'000'000});
  ASSERT_EQ(all(p, 11).size(), 1u);
  EXPECT_EQ(str(number(parse(all(p, 11)[0]->bytes), 1)), "wall");
  ASSERT_EQ(all(p, 13).size(), 1u);
  EXPECT_EQ(str(packed(all(p, 13)[0]->bytes).at(0)), "py-sample of process 1");

  // One mapping, with functions, files and lines: pprof symbolizes nothing itself.
  ASSERT_EQ(all(p, 3).size(), 1u);
  Message mapping = parse(all(p, 3)[0]->bytes);
  EXPECT_EQ(number(mapping, 1), 1u);
  EXPECT_EQ(str(number(mapping, 5)), "python3.12.1");
  EXPECT_EQ(number(mapping, 7) + number(mapping, 8) + number(mapping, 9), 3u);

  // Functions: one per code object, whatever its lines.
  std::map<uint64_t, std::string> function_names;
  std::map<std::string, uint64_t> start_lines;
  for (const Field* f : all(p, 5)) {
    Message fn = parse(f->bytes);
    ASSERT_NE(number(fn, 1), 0u);
    function_names[number(fn, 1)] = str(number(fn, 2));
    EXPECT_EQ(number(fn, 3), 0u) << "a system_name pprof would demangle";
    EXPECT_EQ(str(number(fn, 4)), "app.py");
    start_lines[str(number(fn, 2))] = number(fn, 5);
  }
  EXPECT_EQ(start_lines, (std::map<std::string, uint64_t>{{"<module>", 1}, {"f", 2}, {"g", 5}}));
  // Locations: one line each, naming "function:line".
  std::map<uint64_t, std::string> locations;
  for (const Field* f : all(p, 4)) {
    Message loc = parse(f->bytes);
    auto lines = all(loc, 4);
    ASSERT_EQ(lines.size(), 1u);
    Message line = parse(lines[0]->bytes);
    ASSERT_NE(number(loc, 1), 0u);
    EXPECT_EQ(number(loc, 2), 1u);
    locations[number(loc, 1)] = function_names.at(number(line, 1)) + ":" + std::to_string(number(line, 2));
  }
  EXPECT_EQ(locations.size(), 3u);

  // Samples: the stack innermost first, [count, count x 10 ms], the thread's name as a label.
  std::map<std::string, std::vector<uint64_t>> samples;
  for (const Field* f : all(p, 2)) {
    Message s = parse(f->bytes);
    auto ids = all(s, 1), values = all(s, 2), labels = all(s, 3);
    ASSERT_EQ(ids.size(), 1u);
    ASSERT_EQ(values.size(), 1u);
    ASSERT_EQ(labels.size(), 1u);
    Message label = parse(labels[0]->bytes);
    EXPECT_EQ(str(number(label, 1)), "thread");
    std::string key = str(number(label, 2)) + ":";
    for (uint64_t id : packed(ids[0]->bytes)) key += " " + locations.at(id);
    samples[key] = packed(values[0]->bytes);
  }
  using V = std::vector<uint64_t>;
  EXPECT_EQ(samples, (std::map<std::string, V>{
                         {"MainThread (tid 100): g:6 f:3 <module>:10", V{3, 30'000'000}},
                         {"MainThread (tid 100): f:3 <module>:10", V{2, 20'000'000}},
                         {"MainThread (tid 100): f:3 f:3 <module>:10", V{1, 10'000'000}},
                         {"worker (tid 101): g:6 <module>:10", V{1, 10'000'000}},
                     }));
}

}  // namespace
}  // namespace pyxray
