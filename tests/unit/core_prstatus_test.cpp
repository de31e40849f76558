// core_syscalls over a small ELF core written here: the notes as the kernel and gdb's gcore lay them
// out (NT_PRPSINFO, then one NT_PRSTATUS per thread).
#include <elf.h>
#include <gtest/gtest.h>
#include <sys/procfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "target/core_prstatus.hpp"

#if defined(__x86_64__)
#include <sys/reg.h>
#endif

namespace pyxray {
namespace {

namespace fs = std::filesystem;

#if defined(__x86_64__)

void append(std::vector<char>& out, const void* data, std::size_t size) {
  const char* p = static_cast<const char*>(data);
  out.insert(out.end(), p, p + size);
  out.resize((out.size() + 3) & ~std::size_t{3}, '\0');  // notes are 4-byte aligned
}

void append_note(std::vector<char>& out, uint32_t type, const void* desc, std::size_t size) {
  const Elf64_Nhdr header{5, static_cast<Elf64_Word>(size), type};
  append(out, &header, sizeof header);
  append(out, "CORE", 5);
  append(out, desc, size);
}

elf_prstatus thread_in(int tid, int64_t number, uint64_t first_arg) {
  elf_prstatus s{};
  s.pr_pid = tid;
  s.pr_reg[ORIG_RAX] = static_cast<uint64_t>(number);
  s.pr_reg[RDI] = first_arg;
  s.pr_reg[RSI] = 0x189;
  s.pr_reg[R9] = 0xffffffff;
  return s;
}

// An ELF core with one PT_NOTE segment holding `notes`, written to `path`.
void write_core(const fs::path& path, const std::vector<char>& notes, uint16_t type = ET_CORE) {
  Elf64_Ehdr header{};
  std::memcpy(header.e_ident, ELFMAG, SELFMAG);
  header.e_ident[EI_CLASS] = ELFCLASS64;
  header.e_ident[EI_DATA] = ELFDATA2LSB;
  header.e_ident[EI_VERSION] = EV_CURRENT;
  header.e_type = type;
  header.e_machine = EM_X86_64;
  header.e_version = EV_CURRENT;
  header.e_phoff = sizeof header;
  header.e_ehsize = sizeof header;
  header.e_phentsize = sizeof(Elf64_Phdr);
  header.e_phnum = 1;
  Elf64_Phdr note{};
  note.p_type = PT_NOTE;
  note.p_offset = sizeof header + sizeof note;
  note.p_filesz = notes.size();
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(&header), sizeof header);
  out.write(reinterpret_cast<const char*>(&note), sizeof note);
  out.write(notes.data(), static_cast<std::streamsize>(notes.size()));
}

class CorePrstatus : public testing::Test {
 protected:
  void SetUp() override { path_ = fs::temp_directory_path() / ("pyxray-core-" + std::to_string(::getpid())); }
  void TearDown() override { fs::remove(path_); }
  fs::path path_;
};

TEST_F(CorePrstatus, ReadsEachThreadsCall) {
  std::vector<char> notes;
  elf_prpsinfo info{};
  info.pr_pid = 4000;
  append_note(notes, NT_PRPSINFO, &info, sizeof info);
  const elf_prstatus main = thread_in(4000, SYS_read, 3);
  const elf_prstatus waiter = thread_in(4002, SYS_futex, 0x55d0c1a2b560);
  const elf_prstatus spinner = thread_in(4003, -1, 0);
  for (const auto* s : {&main, &waiter, &spinner}) append_note(notes, NT_PRSTATUS, s, sizeof *s);
  write_core(path_, notes);

  auto core = core_syscalls(path_.string());
  ASSERT_TRUE(core);
  EXPECT_EQ(core->pid, 4000);
  ASSERT_EQ(core->by_tid.size(), 3u);
  ASSERT_TRUE(core->by_tid.at(4002));
  EXPECT_EQ(core->by_tid.at(4002)->number, SYS_futex);
  EXPECT_EQ(core->by_tid.at(4002)->args[0], 0x55d0c1a2b560u);
  EXPECT_EQ(core->by_tid.at(4002)->args[1], 0x189u);
  EXPECT_EQ(core->by_tid.at(4002)->args[5], 0xffffffffu);
  ASSERT_TRUE(core->by_tid.at(4000));
  EXPECT_EQ(core->by_tid.at(4000)->number, SYS_read);
  EXPECT_FALSE(core->by_tid.at(4003)) << "orig_rax -1: in no system call";
}

TEST_F(CorePrstatus, WithoutPrpsinfoThePidIsTheFirstThreads) {
  std::vector<char> notes;
  const elf_prstatus first = thread_in(7000, SYS_futex, 0x1000);
  append_note(notes, NT_PRSTATUS, &first, sizeof first);
  write_core(path_, notes);
  auto core = core_syscalls(path_.string());
  ASSERT_TRUE(core);
  EXPECT_EQ(core->pid, 7000);
}

TEST_F(CorePrstatus, RejectsWhatIsNoCore) {
  std::vector<char> notes;
  const elf_prstatus first = thread_in(7000, SYS_futex, 0x1000);
  append_note(notes, NT_PRSTATUS, &first, sizeof first);
  write_core(path_, notes, ET_DYN);  // a shared object
  EXPECT_FALSE(core_syscalls(path_.string()));
  write_core(path_, {});  // a core without threads
  EXPECT_FALSE(core_syscalls(path_.string()));
  std::vector<char> truncated = notes;
  truncated.resize(truncated.size() - 8);  // the last note cut short
  write_core(path_, truncated);
  EXPECT_FALSE(core_syscalls(path_.string()));
  EXPECT_FALSE(core_syscalls((path_.string() + ".missing")));
}

#endif

}  // namespace
}  // namespace pyxray
