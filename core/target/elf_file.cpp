#include "target/elf_file.hpp"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <fmt/format.h>

namespace pyxray {
namespace {

// Closes the descriptor and the Elf handle on every path out.
struct ElfHandle {
  int fd = -1;
  Elf* elf = nullptr;
  ~ElfHandle() {
    if (elf) elf_end(elf);
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

std::optional<ElfSection> ElfFile::section(const std::string& name) const {
  auto it = sections.find(name);
  if (it == sections.end()) return std::nullopt;
  return it->second;
}

std::optional<uint64_t> ElfFile::dynamic_symbol(const std::string& name) const {
  auto it = dynamic_symbols.find(name);
  if (it == dynamic_symbols.end()) return std::nullopt;
  return it->second;
}

Expected<ElfFile> read_elf(const std::string& path) {
  if (elf_version(EV_CURRENT) == EV_NONE) return fail("libelf is unusable");
  ElfHandle h;
  h.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (h.fd < 0) return fail(fmt::format("cannot open {}", path));
  h.elf = elf_begin(h.fd, ELF_C_READ, nullptr);
  if (!h.elf || elf_kind(h.elf) != ELF_K_ELF) return fail(fmt::format("{} is not an ELF file", path));
  std::size_t shstrndx = 0;
  if (elf_getshdrstrndx(h.elf, &shstrndx) != 0) return fail(fmt::format("{} has no section names", path));
  ElfFile file;
  file.path = path;
  if (GElf_Ehdr ehdr; gelf_getehdr(h.elf, &ehdr)) file.fixed_address = ehdr.e_type == ET_EXEC;
  if (std::size_t phnum = 0; elf_getphdrnum(h.elf, &phnum) == 0) {
    for (std::size_t i = 0; i < phnum; ++i) {
      GElf_Phdr phdr;
      if (!gelf_getphdr(h.elf, static_cast<int>(i), &phdr) || phdr.p_type != PT_LOAD) continue;
      file.first_load_vaddr = phdr.p_vaddr - phdr.p_offset;
      break;
    }
  }
  for (Elf_Scn* scn = elf_nextscn(h.elf, nullptr); scn; scn = elf_nextscn(h.elf, scn)) {
    GElf_Shdr shdr;
    if (!gelf_getshdr(scn, &shdr)) continue;
    const char* name = elf_strptr(h.elf, shstrndx, shdr.sh_name);
    if (!name) continue;
    file.sections[name] = {shdr.sh_addr, shdr.sh_size};
    if (shdr.sh_type != SHT_DYNSYM || shdr.sh_entsize == 0) continue;
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (!data) continue;
    std::size_t count = shdr.sh_size / shdr.sh_entsize;
    for (std::size_t i = 0; i < count; ++i) {
      GElf_Sym sym;
      if (!gelf_getsym(data, static_cast<int>(i), &sym) || sym.st_value == 0 || sym.st_shndx == SHN_UNDEF) continue;
      if (const char* sname = elf_strptr(h.elf, shdr.sh_link, sym.st_name); sname && *sname)
        file.dynamic_symbols.emplace(sname, sym.st_value);
    }
  }
  return file;
}

std::optional<uint64_t> load_bias(const ElfFile& elf, uint64_t mapped_start) {
  if (elf.fixed_address) return 0;
  if (!elf.first_load_vaddr) return std::nullopt;
  return mapped_start - (*elf.first_load_vaddr & ~uint64_t{0xfff});
}

}  // namespace pyxray
