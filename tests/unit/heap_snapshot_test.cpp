// Heap snapshot files (core/heap/heap_snapshot.cpp) and their diff (core/heap/heap_diff.cpp):
// a round trip keeps everything; every kind of bad file is one clear phrase, never a crash.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <tuple>

#include <unistd.h>

#include "heap/heap_diff.hpp"
#include "heap/heap_snapshot.hpp"
#include "target/process_identity.hpp"

namespace pyxray {
namespace {

HeapSnapshot sample_snapshot(bool objects) {
  HeapSnapshot s;
  s.process = {"live", 4242, 123456, "0c1d-boot", "/usr/bin/python3.11"};
  s.python_version = "3.11.7";
  s.pyxray_version = "0.1.0";
  s.taken_at = "2026-12-07T18:59:01Z";
  s.time = 1796669941.5;
  s.seconds = 0.25;
  s.types = {{"builtins", "dict", "dict", 0x7f0000001000, 3, 600, 272, {}},
             {"app", "Outer.Widget", "app.Outer.Widget", 0x5600000020, 2, 96, 48, {}}};
  s.objects = 5;
  s.bytes = 696;
  s.warnings = {"a warning"};
  if (objects) {
    ObjectColumns c;
    // Up, down (another arena), an odd address and a large size: every delta and width.
    c.add(0x7f5340070200, 0, 272);
    c.add(0x7f5340070310, 0, 64);
    c.add(0x55d1c0000040, 1, 48);
    c.add(0x55d1c0000071, 1, 48);
    c.add(0x7f5340070100, 0, 264);
    c.finish(s);
  }
  return s;
}

// The same, with every object's GC generation (py-heap-summary --save F --objects).
HeapSnapshot sample_with_generations() {
  HeapSnapshot s = sample_snapshot(true);
  s.generation_names = {"untracked", "gen0", "gen1", "gen2", "permanent", "unknown"};
  s.types[0].gens = {0, 1, 0, 2, 0, 0};
  s.types[1].gens = {1, 0, 0, 0, 1, 0};
  s.gen_col = {1, 3, 0, 4, 3};
  return s;
}

std::vector<uint8_t> bytes_of(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }

TEST(HeapSnapshot, RoundTripKeepsEverything) {
  const HeapSnapshot s = sample_snapshot(true);
  const std::string file = encode_snapshot(s);
  ASSERT_EQ(file.compare(0, 8, std::string("PYXHEAP\0", 8)), 0);
  auto back = decode_snapshot(bytes_of(file));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->process.pid, 4242);
  EXPECT_EQ(back->process.start_ticks, 123456u);
  EXPECT_EQ(back->process.boot_id, "0c1d-boot");
  EXPECT_EQ(back->process.exe, "/usr/bin/python3.11");
  EXPECT_EQ(back->process.source, "live");
  EXPECT_EQ(back->python_version, "3.11.7");
  EXPECT_EQ(back->taken_at, s.taken_at);
  EXPECT_DOUBLE_EQ(back->time, s.time);
  EXPECT_EQ(back->objects, 5u);
  EXPECT_EQ(back->bytes, 696u);
  EXPECT_EQ(back->warnings, s.warnings);
  ASSERT_EQ(back->types.size(), 2u);
  EXPECT_EQ(back->types[1].module, "app");
  EXPECT_EQ(back->types[1].qualname, "Outer.Widget");
  EXPECT_EQ(back->types[1].name, "app.Outer.Widget");
  EXPECT_EQ(back->types[1].addr, 0x5600000020u);
  EXPECT_EQ(back->types[0].count, 3u);
  EXPECT_EQ(back->types[0].bytes, 600u);
  EXPECT_EQ(back->types[0].max, 272u);
  auto objs = snapshot_objects(*back);
  ASSERT_TRUE(objs) << objs.error().message;
  ASSERT_EQ(objs->size(), 5u);
  const uint64_t want[] = {0x7f5340070200, 0x7f5340070310, 0x55d1c0000040, 0x55d1c0000071, 0x7f5340070100};
  for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ((*objs)[i].addr, want[i]) << i;
  EXPECT_EQ((*objs)[2].type, 1u);
  EXPECT_EQ((*objs)[4].size, 264u);
}

TEST(HeapSnapshot, RoundTripKeepsGenerations) {
  auto back = decode_snapshot(bytes_of(encode_snapshot(sample_with_generations())));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->generation_names.at(4), "permanent");
  EXPECT_EQ(back->types[0].gens, (std::vector<uint64_t>{0, 1, 0, 2, 0, 0}));
  EXPECT_EQ(back->types[1].gens, (std::vector<uint64_t>{1, 0, 0, 0, 1, 0}));
  auto objs = snapshot_objects(*back);
  ASSERT_TRUE(objs) << objs.error().message;
  const uint8_t want[] = {1, 3, 0, 4, 3};
  for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ((*objs)[i].gen, want[i]) << i;
  // A generation column that does not match the objects is damage, said so.
  HeapSnapshot bad = sample_with_generations();
  bad.gen_col.pop_back();
  auto r = decode_snapshot(bytes_of(encode_snapshot(bad)));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "is damaged: its generation column does not match its object count");
  // Without generations, none are invented.
  back = decode_snapshot(bytes_of(encode_snapshot(sample_snapshot(true))));
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->generation_names.empty());
  EXPECT_TRUE(back->types[0].gens.empty());
}

TEST(HeapSnapshot, WithoutObjectsSaysSo) {
  auto back = decode_snapshot(bytes_of(encode_snapshot(sample_snapshot(false))));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_FALSE(back->has_objects);
  auto objs = snapshot_objects(*back);
  ASSERT_FALSE(objs);
  EXPECT_NE(objs.error().message.find("without --objects"), std::string::npos);
}

TEST(HeapSnapshot, EveryTruncationIsOneClearPhrase) {
  const std::string file = encode_snapshot(sample_snapshot(true));
  for (std::size_t cut = 0; cut < file.size(); ++cut) {
    auto r = decode_snapshot(bytes_of(file.substr(0, cut)));
    ASSERT_FALSE(r) << "a file cut at " << cut << " of " << file.size() << " bytes decoded";
    const std::string& m = r.error().message;
    if (cut >= 8) EXPECT_EQ(m.rfind("is truncated: ", 0), 0u) << cut << ": " << m;
    else EXPECT_EQ(m, "is not a pyxray heap snapshot") << cut;
  }
  auto r = decode_snapshot(bytes_of(file.substr(0, 100)));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "is truncated: 100 of " + std::to_string(file.size()) + " bytes") << file.size();
}

TEST(HeapSnapshot, WrongMagicNewerFormatAndDamage) {
  const std::string file = encode_snapshot(sample_snapshot(true));
  // Not a snapshot at all: a text file, random bytes.
  for (const std::string& other : {std::string("{\"types\": []}\n"), std::string(300, '\x5a'), std::string()}) {
    auto r = decode_snapshot(bytes_of(other));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "is not a pyxray heap snapshot");
  }
  // A format this pyxray does not know yet.
  std::string newer = file;
  newer[8] = 2;
  auto r = decode_snapshot(bytes_of(newer));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "is a heap snapshot of format 2, newer than this pyxray reads (1): use a newer pyxray");
  // One bit flipped in the body: the CRC says so.
  std::string flipped = file;
  flipped[40] ^= 0x10;
  r = decode_snapshot(bytes_of(flipped));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "is damaged: its checksum does not match its contents");
  // The CRC itself damaged.
  std::string crc = file;
  crc.back() ^= 1;
  r = decode_snapshot(bytes_of(crc));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "is damaged: its checksum does not match its contents");
  // Bytes appended.
  r = decode_snapshot(bytes_of(file + "xyz"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "is damaged: 3 bytes after the end of the snapshot");
  // An absurd length field.
  std::string huge = file;
  for (int i = 12; i < 20; ++i) huge[i] = '\xff';
  r = decode_snapshot(bytes_of(huge));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "is not a pyxray heap snapshot (its length field is damaged)");
}

TEST(HeapSnapshot, FileErrorsNameTheFile) {
  const auto dir = std::filesystem::temp_directory_path() / ("pyxray-snap-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = (dir / "s1.heap").string();
  const std::string file = encode_snapshot(sample_snapshot(false));
  std::ofstream(path, std::ios::binary) << file.substr(0, file.size() - 10);
  auto r = read_snapshot_file(path);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, path + " is truncated: " + std::to_string(file.size() - 10) + " of " +
                                   std::to_string(file.size()) + " bytes");
  r = read_snapshot_file((dir / "missing").string());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message.rfind("cannot read " + (dir / "missing").string() + ": ", 0), 0u) << r.error().message;
  std::filesystem::remove_all(dir);
}

TEST(HeapSnapshot, StartTicksIsField22) {
  // The command name may hold spaces and parentheses.
  const std::string line =
      "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 5 6 0 0 20 0 3 0 987654 123456789 100 "
      "18446744073709551615\n";
  EXPECT_EQ(parse_start_ticks(line), 987654u);
  EXPECT_FALSE(parse_start_ticks("4242 (x) S 1 2").has_value());
}

TEST(HeapSnapshot, SameProcessNeedsBootPidAndStartTime) {
  ProcessIdentity a{"live", 10, 500, "boot", "/usr/bin/python3"};
  ProcessIdentity b = a;
  EXPECT_TRUE(same_process(a, b).same);
  EXPECT_TRUE(same_process(a, b).certain);
  b.start_ticks = 501;  // the pid reused by another run
  EXPECT_FALSE(same_process(a, b).same);
  b = a;
  b.boot_id = "other";
  EXPECT_FALSE(same_process(a, b).same);
  b = a;
  b.pid = 11;
  EXPECT_FALSE(same_process(a, b).same);
  ProcessIdentity core{"core", 10, 0, "", "/usr/bin/python3"};
  EXPECT_TRUE(same_process(a, core).same);
  EXPECT_FALSE(same_process(a, core).certain);
  // A container's executable, as the host names it in its core.
  core.exe = "/var/cache/root/usr/bin/python3";
  EXPECT_TRUE(same_process(a, core).same);
  core.exe = "/usr/bin/notpython3";
  EXPECT_FALSE(same_process(a, core).same);
  core.exe = "/usr/local/bin/python3";
  EXPECT_FALSE(same_process(a, core).same);
}

HeapSnapshot counts(std::vector<std::tuple<std::string, std::string, uint64_t, uint64_t>> rows) {
  HeapSnapshot s;
  for (auto& [module, qual, count, bytes] : rows) {
    s.types.push_back({module, qual, module == "builtins" ? qual : module + "." + qual, 0, count, bytes, 0, {}});
    s.objects += count;
    s.bytes += bytes;
  }
  return s;
}

TEST(HeapDiff, LargestGrowthFirstMatchedByName) {
  HeapSnapshot a = counts({{"builtins", "dict", 100, 10000}, {"builtins", "str", 500, 25000}, {"app", "Gone", 3, 96}});
  a.types[0].addr = 0x1000;  // addresses differ between runs and never match types
  HeapSnapshot b = counts({{"builtins", "str", 520, 26000},
                           {"app", "Widget", 1234, 59232},
                           {"builtins", "dict", 90, 9000},
                           {"app", "Widget", 6, 288}});  // a reloaded class: a second type object
  b.types[2].addr = 0x2000;
  const HeapDiff d = diff_snapshots({&a, &b});
  ASSERT_EQ(d.rows.size(), 4u);
  EXPECT_EQ(d.rows[0].name, "app.Widget");
  EXPECT_EQ(d.rows[0].count_delta, 1240);
  EXPECT_EQ(d.rows[0].bytes_delta, 59520);
  EXPECT_EQ(d.rows[0].count_old, 0u);
  EXPECT_EQ(d.rows[0].classes, 2u);
  EXPECT_EQ(d.rows[1].name, "str");
  EXPECT_EQ(d.rows[1].count_delta, 20);
  EXPECT_EQ(d.rows[2].name, "app.Gone");
  EXPECT_EQ(d.rows[2].count_delta, -3);
  EXPECT_EQ(d.rows[3].name, "dict");
  EXPECT_EQ(d.rows[3].count_delta, -10);
  EXPECT_EQ(d.total.count_delta, static_cast<int64_t>(b.objects) - static_cast<int64_t>(a.objects));
  EXPECT_TRUE(d.suspects.empty());
}

TEST(HeapDiff, SuspectsGrewInEveryInterval) {
  HeapSnapshot a = counts({{"app", "Widget", 10, 480}, {"builtins", "list", 50, 4000}, {"builtins", "int", 7, 196}});
  HeapSnapshot b = counts({{"app", "Widget", 20, 960}, {"builtins", "list", 80, 6400}, {"builtins", "int", 9, 252}});
  HeapSnapshot c = counts({{"app", "Widget", 30, 1440}, {"builtins", "list", 60, 4800}, {"builtins", "int", 9, 252}});
  const HeapDiff d = diff_snapshots({&a, &b, &c});
  ASSERT_EQ(d.suspects.size(), 1u);
  EXPECT_EQ(d.suspects[0].name, "app.Widget");
  EXPECT_EQ(d.suspects[0].counts, (std::vector<uint64_t>{10, 20, 30}));
  EXPECT_TRUE(d.rows[0].suspect);
  for (const auto& r : d.rows) {
    if (r.name != "app.Widget") EXPECT_FALSE(r.suspect) << r.name;
  }
}

// A suspect's sample: an object of its type in the newest snapshot at an address the oldest had none
// of its type at, of the oldest generation among those; its generations counted by name.
TEST(HeapDiff, SuspectSampleIsNewAndOld) {
  const std::vector<std::string> names = {"untracked", "gen0", "gen1", "gen2", "permanent", "unknown"};
  auto with_objects = [&](HeapSnapshot s, std::vector<std::tuple<uint64_t, uint32_t, uint8_t>> objs) {
    ObjectColumns c;
    for (auto& [addr, type, gen] : objs) c.add(addr, type, 48);
    c.finish(s);
    s.generation_names = names;
    for (auto& [addr, type, gen] : objs) s.gen_col.push_back(gen);
    for (auto& t : s.types) t.gens.assign(names.size(), 0);
    for (auto& [addr, type, gen] : objs) ++s.types[type].gens[gen];
    return s;
  };
  // Widget at 0x100 (gen2) exists from the first snapshot; 0x200 is new but young, 0x300 new and old.
  HeapSnapshot a =
      with_objects(counts({{"app", "Widget", 1, 48}, {"builtins", "list", 1, 48}}), {{0x100, 0, 3}, {0x900, 1, 1}});
  HeapSnapshot b = counts({{"app", "Widget", 2, 96}});
  HeapSnapshot c = with_objects(counts({{"builtins", "list", 1, 48}, {"app", "Widget", 3, 144}}),
                                {{0x900, 0, 1}, {0x100, 1, 3}, {0x200, 1, 1}, {0x300, 1, 3}});
  const HeapDiff d = diff_snapshots({&a, &b, &c});
  ASSERT_EQ(d.suspects.size(), 1u);
  const DiffRow& w = d.suspects[0];
  EXPECT_EQ(w.sample, 0x300u);
  EXPECT_TRUE(w.sample_is_new);
  EXPECT_EQ(w.sample_generation, "gen2");
  const std::vector<std::pair<std::string, uint64_t>> want = {{"untracked", 0}, {"gen0", 1},      {"gen1", 0},
                                                              {"gen2", 2},      {"permanent", 0}, {"unknown", 0}};
  EXPECT_EQ(w.generations, want);
  // Without objects in the newest snapshot there is no sample, and no harm.
  const HeapDiff none = diff_snapshots({&a, &c, &b});
  for (const auto& r : none.suspects) EXPECT_EQ(r.sample, 0u) << r.name;
}

}  // namespace
}  // namespace pyxray
