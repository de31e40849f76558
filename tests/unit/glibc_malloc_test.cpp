// read_glibc_malloc over a hand-made address space: glibc 2.36's and 2.43's layouts (the latter
// without fastbins) decode to the numbers laid out; symbols of another build, layouts pyxray does not
// know and arenas that do not fit the mappings give one-line errors or warnings, never numbers.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>

#include "heap/glibc_malloc.hpp"
#include "synthetic_image.hpp"
#include "target/address_space.hpp"
#include "target/memory.hpp"

namespace pyxray {
namespace {

using synthetic::Image;

// The struct layouts of Debian's libc6-dbg, as gdb's ptype/o shows them.
using Layout = std::map<std::string, int64_t>;  // "type:field" ("type:" = sizeof)

Layout glibc_236() {
  return {{"struct malloc_state:", 2200},           {"struct malloc_state:top", 96},
          {"struct malloc_state:fastbinsY", 16},    {"struct malloc_state:bins", 112},
          {"struct malloc_state:binmap", 2144},     {"struct malloc_state:next", 2160},
          {"struct malloc_state:system_mem", 2184}, {"struct malloc_state:max_system_mem", 2192},
          {"struct malloc_chunk:mchunk_size", 8},   {"struct malloc_chunk:fd", 16},
          {"struct malloc_chunk:bk", 24},           {"struct malloc_par:trim_threshold", 0},
          {"struct malloc_par:mmap_threshold", 16}, {"struct malloc_par:n_mmaps", 60},
          {"struct malloc_par:max_n_mmaps", 68},    {"struct malloc_par:mmapped_mem", 80},
          {"struct malloc_par:max_mmapped_mem", 88}};
}

Layout glibc_243() {  // no fastbins
  return {{"struct malloc_state:", 2112},
          {"struct malloc_state:top", 8},
          {"struct malloc_state:bins", 24},
          {"struct malloc_state:binmap", 2056},
          {"struct malloc_state:next", 2072},
          {"struct malloc_state:system_mem", 2096},
          {"struct malloc_state:max_system_mem", 2104},
          {"struct malloc_chunk:mchunk_size", 8},
          {"struct malloc_chunk:fd", 16},
          {"struct malloc_chunk:bk", 24},
          {"struct malloc_par:trim_threshold", 0},
          {"struct malloc_par:mmap_threshold", 16},
          {"struct malloc_par:n_mmaps", 68},
          {"struct malloc_par:max_n_mmaps", 76},
          {"struct malloc_par:mmapped_mem", 88},
          {"struct malloc_par:max_mmapped_mem", 96}};
}

class GlibcTarget final : public Target {
 public:
  GlibcTarget(std::shared_ptr<const Image> image, Layout layout)
      : image_(std::move(image)), layout_(std::move(layout)) {}
  std::map<std::string, uint64_t, std::less<>> symbols;
  std::vector<LoadedObject> objects;

  int pid() const override { return 4242; }
  bool is_live_local() const override { return false; }
  std::size_t read_memory(uint64_t addr, std::span<std::byte> out) override { return image_->read(addr, out); }
  std::optional<uint64_t> symbol_address(std::string_view name) override {
    auto it = symbols.find(name);
    return it == symbols.end() ? std::nullopt : std::optional<uint64_t>(it->second);
  }
  std::optional<int64_t> type_offset(std::string_view type, std::string_view field) override {
    auto it = layout_.find(std::string(type) + ":" + std::string(field));
    return it == layout_.end() ? std::nullopt : std::optional<int64_t>(it->second);
  }
  std::vector<NativeThread> threads() override { return {}; }
  std::optional<int64_t> selected_thread() override { return std::nullopt; }
  std::vector<LoadedObject> loaded_objects() override { return objects; }

 private:
  std::shared_ptr<const Image> image_;
  Layout layout_;
};

constexpr uint64_t kLibc = 0x7f0000000000, kLibcSize = 0x200000;
constexpr uint64_t kMainArena = kLibc + 0x1d0000, kMp = kLibc + 0x1d1000;
constexpr uint64_t kHeap = 0x555500000000, kHeapSize = 0x21000;
constexpr uint64_t kOther = 0x7e0000000000, kOtherSize = 0x100000, kOtherArena = kOther + 0x20;
const char* kLibcPath = "/usr/lib/x86_64-linux-gnu/libc.so.6";
const char* kBuildId = "a226e0f150be89099d375c6b865b1dba794648ae";

// A process whose glibc has the given layout: a main arena with a brk heap (a free chunk in the
// unsorted bin, one in small bin 9, two 32-byte chunks in fastbin 0 when the layout has fastbins, the
// top chunk) and a second arena in its own mapping that holds only its top chunk.
struct Scene {
  std::shared_ptr<Image> image = std::make_shared<Image>();
  AddressSpace space;
  Layout layout;
  bool fastbins;

  explicit Scene(Layout l) : layout(std::move(l)), fastbins(layout.count("struct malloc_state:fastbinsY")) {
    image->map(kLibc, kLibcSize);
    image->map(kHeap, kHeapSize);
    image->map(kOther, kOtherSize);
    space.complete = true;
    space.ranges = {{kHeap, kHeap + kHeapSize, 0, "[heap]"},
                    {kOther, kOther + kOtherSize, 0, ""},
                    {kLibc, kLibc + kLibcSize, 0, kLibcPath}};
    std::sort(space.ranges.begin(), space.ranges.end(),
              [](const MappedRange& a, const MappedRange& b) { return a.start < b.start; });
    write_elf_header(kBuildId);

    const uint64_t unsorted = 0x100, small = 0x400;
    arena(kMainArena, kOtherArena, kHeapSize, 2 * kHeapSize, kHeap + 0x1000, 0x20000);
    image->write_u64(kHeap + 0x8, 0x101);
    chunk(unsorted, 0x200);
    image->write_u64(kHeap + 0x300 + 8, 0x101);
    chunk(small, 0x90);
    link_single(kMainArena, 1, kHeap + unsorted);
    link_single(kMainArena, 9, kHeap + small);
    if (fastbins) {  // fastbin 0: 0x490 -> 0x4b0, safe-linked
      const uint64_t a = kHeap + 0x490, b = kHeap + 0x4b0, fd = at("struct malloc_chunk:fd");
      image->write_u64(a + 8, 0x21);
      image->write_u64(b + 8, 0x21);
      image->write_u64(a + fd, ((a + fd) >> 12) ^ b);
      image->write_u64(b + fd, ((b + fd) >> 12) ^ 0);
      image->write_u64(kMainArena + at("struct malloc_state:fastbinsY"), a);
    }
    arena(kOtherArena, kMainArena, kHeapSize, kHeapSize, kOther + 0x1000, 0x20000);

    image->write_u32(kMp + at("struct malloc_par:n_mmaps"), 1);
    image->write_u32(kMp + at("struct malloc_par:max_n_mmaps"), 2);
    image->write_u64(kMp + at("struct malloc_par:mmapped_mem"), 0x30000);
    image->write_u64(kMp + at("struct malloc_par:max_mmapped_mem"), 0x50000);
    image->write_u64(kMp + at("struct malloc_par:trim_threshold"), 0x20000);
    image->write_u64(kMp + at("struct malloc_par:mmap_threshold"), 0x20000);
  }

  int64_t at(const std::string& key) const { return layout.at(key); }
  uint64_t bin(uint64_t arena, int i) const {
    return arena + at("struct malloc_state:bins") + 16 * static_cast<uint64_t>(i - 1) - at("struct malloc_chunk:fd");
  }

  void arena(uint64_t addr, uint64_t next, uint64_t system, uint64_t max_system, uint64_t top, uint64_t top_size) {
    for (int i = 1; i < 128; ++i) {  // NBINS = 128
      image->write_u64(bin(addr, i) + 16, bin(addr, i));
      image->write_u64(bin(addr, i) + 24, bin(addr, i));
    }
    image->write_u64(addr + at("struct malloc_state:top"), top);
    image->write_u64(top + 8, top_size | 1);
    image->write_u64(addr + at("struct malloc_state:next"), next);
    image->write_u64(addr + at("struct malloc_state:system_mem"), system);
    image->write_u64(addr + at("struct malloc_state:max_system_mem"), max_system);
  }
  void chunk(uint64_t offset, uint64_t size) { image->write_u64(kHeap + offset + 8, size | 1); }
  // Bin i of the arena holds the one chunk c.
  void link_single(uint64_t arena, int i, uint64_t c) {
    image->write_u64(bin(arena, i) + 16, c);
    image->write_u64(bin(arena, i) + 24, c);
    image->write_u64(c + 16, bin(arena, i));
    image->write_u64(c + 24, bin(arena, i));
  }

  // An ELF header, one PT_LOAD at 0 and a PT_NOTE with the GNU build id, at the libc mapping's start.
  void write_elf_header(const std::string& build_id_hex) {
    image->write(kLibc, std::as_bytes(std::span("\x7f"
                                                "ELF\x02\x01\x01",
                                                7)));
    image->write_u64(kLibc + 0x20, 64);  // e_phoff
    image->write_u16(kLibc + 0x36, 56);  // e_phentsize
    image->write_u16(kLibc + 0x38, 2);   // e_phnum
    const uint64_t ph = kLibc + 64;
    image->write_u32(ph, 1);       // PT_LOAD, vaddr 0
    image->write_u32(ph + 56, 4);  // PT_NOTE
    image->write_u64(ph + 56 + 0x10, 0x300);
    image->write_u64(ph + 56 + 0x20, 16 + build_id_hex.size() / 2);
    image->write_u32(kLibc + 0x300, 4);
    image->write_u32(kLibc + 0x304, static_cast<uint32_t>(build_id_hex.size() / 2));
    image->write_u32(kLibc + 0x308, 3);  // NT_GNU_BUILD_ID
    image->write_cstring(kLibc + 0x30c, "GNU");
    for (std::size_t i = 0; i < build_id_hex.size() / 2; ++i)
      image->write_u8(kLibc + 0x310 + i, static_cast<uint8_t>(std::stoul(build_id_hex.substr(2 * i, 2), nullptr, 16)));
  }

  // The debugger's view: symbols and the given layout (by default the scene's own).
  std::unique_ptr<GlibcTarget> target(std::optional<Layout> l = std::nullopt,
                                      std::optional<std::string> build_id = std::nullopt) const {
    auto t = std::make_unique<GlibcTarget>(image, l ? *l : layout);
    t->symbols["main_arena"] = kMainArena;
    t->symbols["mp_"] = kMp;
    t->objects.push_back({kLibcPath, kLibc, build_id});
    return t;
  }
};

Expected<GlibcStats> decode(const Scene& s, GlibcTarget& t) {
  Memory mem(debugger_reader(t));
  return read_glibc_malloc(t, mem, s.space);
}

void expect_main_and_other(const GlibcStats& g, bool fastbins) {
  ASSERT_EQ(g.arenas.size(), 2u);
  const GlibcArena& m = g.arenas[0];
  EXPECT_TRUE(m.main);
  EXPECT_EQ(m.address, kMainArena);
  EXPECT_EQ(m.system_bytes, kHeapSize);
  EXPECT_EQ(m.max_system_bytes, 2 * kHeapSize);
  EXPECT_EQ(m.top_bytes, 0x20000u);
  EXPECT_EQ(m.bin_chunks, 2u);
  EXPECT_EQ(m.bin_bytes, 0x200u + 0x90u);
  EXPECT_EQ(m.fastbin_chunks, fastbins ? 2u : 0u);
  EXPECT_EQ(m.fastbin_bytes, fastbins ? 0x40u : 0u);
  EXPECT_EQ(g.arenas[1].address, kOtherArena);
  EXPECT_EQ(g.arenas[1].top_bytes, 0x20000u);
  EXPECT_EQ(g.arenas[1].bin_chunks, 0u);
  EXPECT_EQ(g.mmapped_regions, 1u);
  EXPECT_EQ(g.mmapped_bytes, 0x30000u);
  EXPECT_EQ(g.max_mmapped_bytes, 0x50000u);
  EXPECT_EQ(g.fastbins, fastbins);
  EXPECT_TRUE(g.warnings.empty()) << g.warnings.front();
}

TEST(GlibcMalloc, Glibc236WithFastbinsAndSafeLinking) {
  Scene s(glibc_236());
  auto t = s.target();
  auto g = decode(s, *t);
  ASSERT_TRUE(g) << g.error().message;
  expect_main_and_other(*g, true);
  EXPECT_TRUE(g->safe_linking);
}

TEST(GlibcMalloc, Glibc243HasNoFastbins) {
  Scene s(glibc_243());
  auto t = s.target(std::nullopt, std::string(kBuildId));  // the debugger's libc is the mapped build
  auto g = decode(s, *t);
  ASSERT_TRUE(g) << g.error().message;
  expect_main_and_other(*g, false);
}

TEST(GlibcMalloc, LldbStyleBuildIdMatchesToo) {
  Scene s(glibc_243());
  auto t = s.target(std::nullopt, std::string("A226E0F1-50BE-8909-9D37-5C6B865B1DBA794648AE"));
  auto g = decode(s, *t);
  ASSERT_TRUE(g) << g.error().message;
}

TEST(GlibcMalloc, SymbolsOfAnotherBuildByBuildId) {
  Scene s(glibc_243());
  auto t = s.target(glibc_236(), std::string("93ac61ec5a8eb1396f9fbd350e3169a558528a40"));
  auto g = decode(s, *t);
  ASSERT_FALSE(g);
  const std::string& m = g.error().message;
  EXPECT_NE(m.find("the debugger's symbols for libc.so.6 are of another build"), std::string::npos) << m;
  EXPECT_NE(m.find("93ac61ec5a8eb1396f9fbd350e3169a558528a40"), std::string::npos) << m;
  EXPECT_NE(m.find(kBuildId), std::string::npos) << m;
  EXPECT_EQ(m.find('\n'), std::string::npos) << m;
}

TEST(GlibcMalloc, SymbolsOfAnotherBuildByPlausibility) {
  // No build id to compare (a core without libc's first page): the 2.36 layout over 2.43's memory
  // does not describe an arena, and no number comes out.
  Scene s(glibc_243());
  auto t = s.target(glibc_236());
  auto g = decode(s, *t);
  ASSERT_FALSE(g);
  EXPECT_NE(g.error().message.find("is not a malloc arena of this process"), std::string::npos) << g.error().message;
  EXPECT_NE(g.error().message.find("probably of another build"), std::string::npos) << g.error().message;

  Scene s2(glibc_236());  // and the other way round
  auto t2 = s2.target(glibc_243());
  auto g2 = decode(s2, *t2);
  ASSERT_FALSE(g2);
  EXPECT_NE(g2.error().message.find("probably of another build"), std::string::npos) << g2.error().message;
}

TEST(GlibcMalloc, SystemMemLargerThanTheMappings) {
  Scene s(glibc_243());
  s.image->write_u64(kMainArena + s.at("struct malloc_state:system_mem"), 9'570'716'009'627'645);
  s.image->write_u64(kMainArena + s.at("struct malloc_state:max_system_mem"), 9'570'716'009'627'645);
  auto t = s.target();
  auto g = decode(s, *t);
  ASSERT_FALSE(g);
  EXPECT_NE(g.error().message.find("its system_mem is more than all the process has mapped"), std::string::npos)
      << g.error().message;
  EXPECT_EQ(g.error().message.find("9570716009627645"), std::string::npos) << g.error().message;
}

TEST(GlibcMalloc, MmapParametersThatDoNotHoldTogether) {
  Scene s(glibc_243());
  s.image->write_u64(kMp + s.at("struct malloc_par:mmapped_mem"), 0x90000);  // above its peak
  auto t = s.target();
  auto g = decode(s, *t);
  ASSERT_FALSE(g);
  EXPECT_NE(g.error().message.find("do not hold together"), std::string::npos) << g.error().message;
}

TEST(GlibcMalloc, AnUnknownLayoutIsNamed) {
  Scene s(glibc_243());
  Layout l = glibc_243();
  l.erase("struct malloc_state:bins");
  auto t = s.target(l);
  auto g = decode(s, *t);
  ASSERT_FALSE(g);
  EXPECT_NE(g.error().message.find("not a layout pyxray knows (no struct malloc_state.bins)"), std::string::npos)
      << g.error().message;
}

TEST(GlibcMalloc, NoDebugSymbols) {
  Scene s(glibc_243());
  auto t = s.target(Layout{});
  auto g = decode(s, *t);
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error().message.rfind("glibc statistics need libc's debug symbols (Debian: libc6-dbg)", 0), 0u)
      << g.error().message;
}

TEST(GlibcMalloc, ADamagedSecondArenaIsLeftOutWithAWarning) {
  Scene s(glibc_243());
  s.image->write_u64(kOtherArena + s.at("struct malloc_state:top"), 0x1234000);  // not mapped
  auto t = s.target();
  auto g = decode(s, *t);
  ASSERT_TRUE(g) << g.error().message;
  ASSERT_EQ(g->arenas.size(), 1u);
  ASSERT_EQ(g->warnings.size(), 1u);
  EXPECT_NE(g->warnings[0].find("is not a malloc arena"), std::string::npos) << g->warnings[0];
}

TEST(GlibcMalloc, AChunkOutsideTheMappingsIsNotCounted) {
  Scene s(glibc_243());
  // The small-bin chunk now claims to run past the end of the heap.
  s.image->write_u64(kHeap + 0x400 + 8, 0x40001);
  auto t = s.target();
  auto g = decode(s, *t);
  ASSERT_TRUE(g) << g.error().message;
  EXPECT_EQ(g->arenas[0].bin_chunks, 1u);
  EXPECT_EQ(g->arenas[0].bin_bytes, 0x200u);
  ASSERT_EQ(g->warnings.size(), 1u);
  EXPECT_NE(g->warnings[0].find("bin 9 is cut short"), std::string::npos) << g->warnings[0];
}

TEST(AddressSpace, ParsesProcMaps) {
  const auto r = parse_proc_maps(
      "555555554000-555555556000 r--p 00000000 08:01 123  /usr/bin/python3.14\n"
      "555555560000-555555581000 rw-p 00000000 00:00 0                          [heap]\n"
      "7ffff7c00000-7ffff7c28000 r--p 00028000 08:01 456  /usr/lib/x86_64-linux-gnu/libc.so.6\n"
      "7ffff7e00000-7ffff7e01000 rw-p 00000000 00:00 0 \n"
      "garbage\n");
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[1].path, "[heap]");
  EXPECT_EQ(r[2].offset, 0x28000u);
  EXPECT_EQ(r[2].path, "/usr/lib/x86_64-linux-gnu/libc.so.6");
  EXPECT_EQ(r[3].path, "");
  AddressSpace space{r, true};
  EXPECT_TRUE(space.holds(0x555555560000, 0x21000));
  EXPECT_FALSE(space.holds(0x555555560000, 0x21001));
  EXPECT_FALSE(space.holds(0x1000));
  EXPECT_EQ(space.find(0x7ffff7c00010), &space.ranges[2]);
  EXPECT_EQ(normalize_build_id("A226E0F1-50BE"), "a226e0f150be");
}

}  // namespace
}  // namespace pyxray
