#include "target/core_notes.hpp"

#include <elf.h>
#include <signal.h>
#include <string.h>
#include <sys/procfs.h>

#include <cstddef>
#include <cstring>
#include <fstream>
#include <vector>

#include <fmt/format.h>

#if defined(__x86_64__)
#include <sys/reg.h>
#endif

namespace pyxray {
namespace {

// Bound on the notes read: a core's notes are a few hundred KiB even with thousands of threads.
constexpr uint64_t kMaxNotes = 64 << 20;

bool read_at(std::ifstream& in, uint64_t offset, void* out, std::size_t size) {
  in.clear();
  in.seekg(static_cast<std::streamoff>(offset));
  return static_cast<bool>(in.read(static_cast<char*>(out), static_cast<std::streamsize>(size)));
}

uint64_t align4(uint64_t n) { return (n + 3) & ~uint64_t{3}; }

#if defined(__x86_64__)
std::optional<BlockedSyscall> syscall_of(const elf_prstatus& status) {
  // <sys/reg.h> names each register's slot in the saved set; orig_rax is -1 outside a system call.
  static constexpr int kArgs[] = {RDI, RSI, RDX, R10, R8, R9};
  const auto number = static_cast<int64_t>(status.pr_reg[ORIG_RAX]);
  if (number < 0) return std::nullopt;
  BlockedSyscall call;
  call.number = number;
  for (std::size_t i = 0; i < call.args.size(); ++i) call.args[i] = status.pr_reg[kArgs[i]];
  return call;
}
#endif

// A fixed-size field that holds a NUL-terminated string, or fills the field without one.
std::string c_string(const char* field, std::size_t size) { return std::string(field, strnlen(field, size)); }

bool is_fault(int signal) { return signal == SIGSEGV || signal == SIGBUS || signal == SIGILL || signal == SIGFPE; }

CoreSignal signal_of(const siginfo_t& info) {
  CoreSignal s;
  s.number = info.si_signo;
  s.code = info.si_code;
  // A fault the kernel raised has the faulting address (SI_KERNEL, also positive, is a fault without
  // one, such as a general protection fault); a signal sent by a process has the sender's pid.
  if (is_fault(info.si_signo) && info.si_code > 0 && info.si_code != SI_KERNEL)
    s.fault_address = reinterpret_cast<uint64_t>(info.si_addr);
  else if (info.si_code <= 0) s.sender = info.si_pid;
  return s;
}

}  // namespace

bool dumps_core(int signal) {
  switch (signal) {
    case SIGQUIT:
    case SIGILL:
    case SIGTRAP:
    case SIGABRT:
    case SIGBUS:
    case SIGFPE:
    case SIGSEGV:
    case SIGXCPU:
    case SIGXFSZ:
    case SIGSYS: return true;
    default: return false;
  }
}

std::string signal_name(int signal) {
  if (const char* abbrev = sigabbrev_np(signal)) return std::string("SIG") + abbrev;
  return fmt::format("signal {}", signal);
}

std::string signal_cause(const CoreSignal& s) {
  switch (s.code) {
    case SI_USER: return "sent by kill()";
    case SI_TKILL: return "sent by tgkill(), as raise() and abort() do";
    case SI_QUEUE: return "sent by sigqueue()";
    case SI_KERNEL: return "sent by the kernel";
    default: break;
  }
  if (s.number == SIGSEGV) {
    if (s.code == SEGV_MAPERR) return "address not mapped";
    if (s.code == SEGV_ACCERR) return "no permission for the access";
  }
  if (s.number == SIGBUS) {
    if (s.code == BUS_ADRALN) return "misaligned address";
    if (s.code == BUS_ADRERR) return "no such physical address (a mapped file shorter than its mapping?)";
    if (s.code == BUS_OBJERR) return "hardware error";
  }
  if (s.number == SIGFPE && s.code == FPE_INTDIV) return "integer division by zero";
  if (s.number == SIGILL && s.code == ILL_ILLOPC) return "illegal opcode";
  return "";
}

std::optional<CoreNotes> read_core_notes(const std::string& path) {
#if defined(__x86_64__)
  std::ifstream in(path, std::ios::binary);
  Elf64_Ehdr header;
  if (!in || !read_at(in, 0, &header, sizeof header)) return std::nullopt;
  if (std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0 || header.e_ident[EI_CLASS] != ELFCLASS64 ||
      header.e_ident[EI_DATA] != ELFDATA2LSB || header.e_type != ET_CORE || header.e_machine != EM_X86_64 ||
      header.e_phentsize != sizeof(Elf64_Phdr))
    return std::nullopt;
  uint64_t segments = header.e_phnum;
  if (segments == PN_XNUM) {  // more segments than e_phnum holds: the count is in section 0's sh_info
    Elf64_Shdr first;
    if (header.e_shoff == 0 || !read_at(in, header.e_shoff, &first, sizeof first)) return std::nullopt;
    segments = first.sh_info;
  }
  CoreNotes out;
  bool have_process = false;  // NT_PRPSINFO named the process
  int64_t first_thread = 0;
  int first_signal = 0;
  for (uint64_t i = 0; i < segments; ++i) {
    Elf64_Phdr segment;
    if (!read_at(in, header.e_phoff + i * sizeof segment, &segment, sizeof segment)) return std::nullopt;
    if (segment.p_type != PT_NOTE || segment.p_filesz > kMaxNotes) continue;
    std::vector<unsigned char> notes(segment.p_filesz);
    if (!read_at(in, segment.p_offset, notes.data(), notes.size())) continue;
    uint64_t pos = 0;
    while (pos + sizeof(Elf64_Nhdr) <= notes.size()) {
      Elf64_Nhdr note;
      std::memcpy(&note, notes.data() + pos, sizeof note);
      const uint64_t name_at = pos + sizeof note;
      const uint64_t desc_at = name_at + align4(note.n_namesz);
      const uint64_t next = desc_at + align4(note.n_descsz);
      if (next > notes.size()) break;
      const bool core_note = note.n_namesz == 5 && std::memcmp(notes.data() + name_at, "CORE", 5) == 0;
      if (core_note && note.n_type == NT_PRPSINFO && note.n_descsz >= sizeof(elf_prpsinfo)) {
        elf_prpsinfo info;
        std::memcpy(&info, notes.data() + desc_at, sizeof info);
        out.pid = info.pr_pid;
        out.ppid = info.pr_ppid;
        out.executable = c_string(info.pr_fname, sizeof info.pr_fname);
        out.arguments = c_string(info.pr_psargs, sizeof info.pr_psargs);
        while (!out.arguments.empty() && out.arguments.back() == ' ') out.arguments.pop_back();
        have_process = true;
      }
      if (core_note && note.n_type == NT_SIGINFO && note.n_descsz >= sizeof(siginfo_t) && !out.signal) {
        siginfo_t info;
        std::memcpy(&info, notes.data() + desc_at, sizeof info);
        if (info.si_signo > 0) out.signal = signal_of(info);
      }
      if (core_note && note.n_type == NT_PRSTATUS && note.n_descsz >= sizeof(elf_prstatus)) {
        elf_prstatus status;
        std::memcpy(&status, notes.data() + desc_at, sizeof status);
        if (out.by_tid.empty()) {
          // The kernel writes the thread that took the signal first (gdb's gcore, the selected one).
          if (!have_process) out.pid = status.pr_pid;
          first_thread = status.pr_pid;
          first_signal = status.pr_cursig;
        }
        out.by_tid[status.pr_pid] = syscall_of(status);
      }
      pos = next;
    }
  }
  if (out.by_tid.empty()) return std::nullopt;
  if (!out.signal && first_signal > 0) out.signal = CoreSignal{first_signal, 0, std::nullopt, std::nullopt};
  if (out.signal) out.signalled_thread = first_thread;
  return out;
#else
  (void)path;
  return std::nullopt;
#endif
}

}  // namespace pyxray
