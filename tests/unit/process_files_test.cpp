// ProcessFilesTarget: what the core finds by itself, through /proc/PID, when the debugger has no
// module for the target's files (a process in another mount namespace). Tested on this process,
// behind a Target that knows nothing.
#include "target/process_files.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>

#include "target/elf_file.hpp"

namespace pyxray {
namespace {

// A debugger that attached to this process but loaded no module: no symbols, no objects.
class BlindTarget : public Target {
 public:
  int pid() const override { return static_cast<int>(::getpid()); }
  bool is_live_local() const override { return live; }
  std::size_t read_memory(uint64_t, std::span<std::byte>) override { return 0; }
  std::optional<uint64_t> symbol_address(std::string_view) override { return std::nullopt; }
  std::optional<int64_t> type_offset(std::string_view, std::string_view) override { return std::nullopt; }
  std::vector<NativeThread> threads() override { return {}; }
  std::optional<int64_t> selected_thread() override { return std::nullopt; }
  std::vector<LoadedObject> loaded_objects() override { return {}; }
  bool live = true;
};

TEST(ProcessFiles, SymbolsFromTheDynsymOfMappedObjects) {
  ProcessFilesTarget t(std::make_unique<BlindTarget>());
  // libc is a shared object (ET_DYN) mapped at a random base: the bias must be right.
  void* expected = ::dlsym(RTLD_DEFAULT, "getpid");
  ASSERT_NE(expected, nullptr);
  auto got = t.symbol_address("getpid");
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, reinterpret_cast<uint64_t>(expected));
  EXPECT_FALSE(t.symbol_address("pyxray_no_such_symbol_anywhere"));
  ASSERT_TRUE(t.note());  // it read the process's files itself
}

TEST(ProcessFiles, NoFallbackForACore) {
  auto inner = std::make_unique<BlindTarget>();
  inner->live = false;
  ProcessFilesTarget t(std::move(inner));
  EXPECT_FALSE(t.symbol_address("getpid"));
  EXPECT_TRUE(t.loaded_objects().empty());
  EXPECT_FALSE(t.note());
  EXPECT_EQ(target_file_path(t, "/usr/lib/x.py"), "/usr/lib/x.py");
}

TEST(ProcessFiles, LoadedObjectsFromMapsExecutableFirst) {
  ProcessFilesTarget t(std::make_unique<BlindTarget>());
  auto objs = t.loaded_objects();
  ASSERT_FALSE(objs.empty());
  EXPECT_EQ(objs.front().path, std::filesystem::read_symlink("/proc/self/exe").string());
  bool libc = false;
  for (const auto& o : objs) libc |= o.path.find("libc.so") != std::string::npos;
  EXPECT_TRUE(libc);
}

TEST(ProcessFiles, PathsThroughTheProcessRoot) {
  BlindTarget t;
  const std::string pid = std::to_string(::getpid());
  EXPECT_EQ(target_file_path(t, "/usr/lib/x.py"), "/proc/" + pid + "/root/usr/lib/x.py");
  EXPECT_EQ(target_file_path(t, "target:/usr/lib/x.py"), "/proc/" + pid + "/root/usr/lib/x.py");
  EXPECT_EQ(target_file_path(t, "x.py"), "/proc/" + pid + "/cwd/x.py");
}

TEST(ProcessFiles, LoadBias) {
  ElfFile exec;
  exec.fixed_address = true;  // a non-PIE executable: its link addresses are its addresses
  exec.first_load_vaddr = 0x400000;
  EXPECT_EQ(load_bias(exec, 0x400000), 0u);
  ElfFile shared;
  shared.first_load_vaddr = 0;
  EXPECT_EQ(load_bias(shared, 0x7f0000000000), 0x7f0000000000u);
  ElfFile prelinked;
  prelinked.first_load_vaddr = 0x10000;
  EXPECT_EQ(load_bias(prelinked, 0x7f0000010000), 0x7f0000000000u);
  EXPECT_FALSE(load_bias(ElfFile{}, 0x1000));
}

}  // namespace
}  // namespace pyxray
