#include "target/core_prstatus.hpp"

#include <elf.h>
#include <sys/procfs.h>

#include <cstddef>
#include <cstring>
#include <fstream>
#include <vector>

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

}  // namespace

std::optional<CoreSyscalls> core_syscalls(const std::string& path) {
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
  CoreSyscalls out;
  bool have_process = false;  // NT_PRPSINFO named the process
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
        have_process = true;
      }
      if (core_note && note.n_type == NT_PRSTATUS && note.n_descsz >= sizeof(elf_prstatus)) {
        elf_prstatus status;
        std::memcpy(&status, notes.data() + desc_at, sizeof status);
        if (!have_process && out.by_tid.empty()) out.pid = status.pr_pid;
        out.by_tid[status.pr_pid] = syscall_of(status);
      }
      pos = next;
    }
  }
  if (out.by_tid.empty()) return std::nullopt;
  return out;
#else
  (void)path;
  return std::nullopt;
#endif
}

}  // namespace pyxray
