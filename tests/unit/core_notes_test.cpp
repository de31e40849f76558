// read_core_notes over a small ELF core written here: the notes as the kernel and gdb's gcore lay them
// out (NT_PRPSINFO, NT_SIGINFO, then one NT_PRSTATUS per thread).
#include <elf.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/procfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "target/core_notes.hpp"

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

class CoreNotes : public testing::Test {
 protected:
  void SetUp() override { path_ = fs::temp_directory_path() / ("pyxray-core-" + std::to_string(::getpid())); }
  void TearDown() override { fs::remove(path_); }
  fs::path path_;
};

TEST_F(CoreNotes, ReadsEachThreadsCall) {
  std::vector<char> notes;
  elf_prpsinfo info{};
  info.pr_pid = 4000;
  append_note(notes, NT_PRPSINFO, &info, sizeof info);
  const elf_prstatus main = thread_in(4000, SYS_read, 3);
  const elf_prstatus waiter = thread_in(4002, SYS_futex, 0x55d0c1a2b560);
  const elf_prstatus spinner = thread_in(4003, -1, 0);
  for (const auto* s : {&main, &waiter, &spinner}) append_note(notes, NT_PRSTATUS, s, sizeof *s);
  write_core(path_, notes);

  auto core = read_core_notes(path_.string());
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
  EXPECT_FALSE(core->signal) << "no NT_SIGINFO and no pr_cursig: no signal";
  EXPECT_FALSE(core->signalled_thread);
}

// A kernel core of a process killed by a fault in its second thread: that thread first, the signal
// with its address, the process's name, parent and command line.
TEST_F(CoreNotes, ReadsWhatEndedTheProcess) {
  std::vector<char> notes;
  elf_prpsinfo info{};
  info.pr_pid = 4000;
  info.pr_ppid = 3999;
  std::strncpy(info.pr_fname, "python3.11", sizeof info.pr_fname);
  std::memset(info.pr_psargs, 'x', sizeof info.pr_psargs);  // a command line that fills the field
  std::memcpy(info.pr_psargs, "python3.11 crash.py ", 20);
  append_note(notes, NT_PRPSINFO, &info, sizeof info);
  siginfo_t sig{};
  sig.si_signo = SIGSEGV;
  sig.si_code = SEGV_MAPERR;
  sig.si_addr = reinterpret_cast<void*>(0x10);
  append_note(notes, NT_SIGINFO, &sig, sizeof sig);
  elf_prstatus crashed = thread_in(4002, -1, 0);
  crashed.pr_cursig = SIGSEGV;
  const elf_prstatus main = thread_in(4000, SYS_futex, 0x1000);
  append_note(notes, NT_PRSTATUS, &crashed, sizeof crashed);
  append_note(notes, NT_PRSTATUS, &main, sizeof main);
  write_core(path_, notes);

  auto core = read_core_notes(path_.string());
  ASSERT_TRUE(core);
  EXPECT_EQ(core->pid, 4000);
  EXPECT_EQ(core->ppid, 3999);
  EXPECT_EQ(core->executable, "python3.11");
  EXPECT_EQ(core->arguments.size(), sizeof info.pr_psargs);
  EXPECT_EQ(core->arguments.substr(0, 20), "python3.11 crash.py ");
  ASSERT_TRUE(core->signal);
  EXPECT_EQ(core->signal->number, SIGSEGV);
  EXPECT_EQ(core->signal->fault_address, 0x10u);
  EXPECT_FALSE(core->signal->sender);
  EXPECT_EQ(core->signalled_thread, 4002);
  EXPECT_EQ(signal_name(core->signal->number), "SIGSEGV");
  EXPECT_EQ(signal_cause(*core->signal), "address not mapped");
  EXPECT_TRUE(dumps_core(SIGSEGV));
}

// abort(): SIGABRT sent by the process to itself, no address; without NT_SIGINFO (an older kernel)
// the first thread's pr_cursig still names the signal.
TEST_F(CoreNotes, SignalSentNotFaulted) {
  std::vector<char> notes;
  siginfo_t sig{};
  sig.si_signo = SIGABRT;
  sig.si_code = SI_TKILL;
  sig.si_pid = 4000;
  append_note(notes, NT_SIGINFO, &sig, sizeof sig);
  const elf_prstatus main = thread_in(4000, SYS_tgkill, 4000);
  append_note(notes, NT_PRSTATUS, &main, sizeof main);
  write_core(path_, notes);
  auto core = read_core_notes(path_.string());
  ASSERT_TRUE(core && core->signal);
  EXPECT_EQ(core->signal->number, SIGABRT);
  EXPECT_FALSE(core->signal->fault_address);
  EXPECT_EQ(core->signal->sender, 4000);
  EXPECT_EQ(signal_cause(*core->signal), "sent by tgkill(), as raise() and abort() do");

  notes.clear();
  elf_prstatus stopped = thread_in(5000, -1, 0);
  stopped.pr_cursig = SIGBUS;
  append_note(notes, NT_PRSTATUS, &stopped, sizeof stopped);
  write_core(path_, notes);
  core = read_core_notes(path_.string());
  ASSERT_TRUE(core && core->signal);
  EXPECT_EQ(core->signal->number, SIGBUS);
  EXPECT_EQ(core->signalled_thread, 5000);
  EXPECT_FALSE(dumps_core(SIGSTOP));
  EXPECT_EQ(signal_name(77), "signal 77");
}

TEST_F(CoreNotes, WithoutPrpsinfoThePidIsTheFirstThreads) {
  std::vector<char> notes;
  const elf_prstatus first = thread_in(7000, SYS_futex, 0x1000);
  append_note(notes, NT_PRSTATUS, &first, sizeof first);
  write_core(path_, notes);
  auto core = read_core_notes(path_.string());
  ASSERT_TRUE(core);
  EXPECT_EQ(core->pid, 7000);
}

TEST_F(CoreNotes, RejectsWhatIsNoCore) {
  std::vector<char> notes;
  const elf_prstatus first = thread_in(7000, SYS_futex, 0x1000);
  append_note(notes, NT_PRSTATUS, &first, sizeof first);
  write_core(path_, notes, ET_DYN);  // a shared object
  EXPECT_FALSE(read_core_notes(path_.string()));
  write_core(path_, {});  // a core without threads
  EXPECT_FALSE(read_core_notes(path_.string()));
  std::vector<char> truncated = notes;
  truncated.resize(truncated.size() - 8);  // the last note cut short
  write_core(path_, truncated);
  EXPECT_FALSE(read_core_notes(path_.string()));
  EXPECT_FALSE(read_core_notes((path_.string() + ".missing")));
}

#endif

}  // namespace
}  // namespace pyxray
