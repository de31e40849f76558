#include "target/address_space.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "target/memory.hpp"

namespace pyxray {

const MappedRange* AddressSpace::find(uint64_t addr) const {
  auto it = std::upper_bound(ranges.begin(), ranges.end(), addr,
                             [](uint64_t a, const MappedRange& r) { return a < r.start; });
  if (it == ranges.begin()) return nullptr;
  --it;
  return addr < it->end ? &*it : nullptr;
}

bool AddressSpace::holds(uint64_t addr, uint64_t len) const {
  if (!complete) return true;
  if (len == 0) len = 1;
  if (addr + len < addr) return false;
  const uint64_t last = addr + len;
  uint64_t at = addr;
  while (at < last) {
    const MappedRange* r = find(at);
    if (!r) return false;
    at = r->end;  // a following mapping that touches this one continues the range
  }
  return true;
}

uint64_t AddressSpace::mapped_bytes() const {
  uint64_t n = 0;
  for (const auto& r : ranges) n += r.end - r.start;
  return n;
}

const MappedRange* AddressSpace::image(bool (*match)(std::string_view)) const {
  for (const auto& r : ranges)
    if (r.offset == 0 && !r.path.empty() && r.path.front() == '/' && match(base_name(r.path))) return &r;
  return nullptr;
}

std::string_view base_name(std::string_view path) {
  auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::vector<MappedRange> parse_proc_maps(std::string_view text) {
  // 7f62f5000000-7f62f5021000 rw-p 00000000 00:00 0          [heap]
  std::vector<MappedRange> out;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string range, perms, offset, dev, inode;
    if (!(fields >> range >> perms >> offset >> dev >> inode)) continue;
    auto dash = range.find('-');
    if (dash == std::string::npos) continue;
    MappedRange r;
    try {
      r.start = std::stoull(range.substr(0, dash), nullptr, 16);
      r.end = std::stoull(range.substr(dash + 1), nullptr, 16);
      r.offset = std::stoull(offset, nullptr, 16);
    } catch (const std::exception&) {
      continue;
    }
    if (r.end <= r.start) continue;
    std::string rest;
    std::getline(fields, rest);
    auto first = rest.find_first_not_of(' ');
    r.path = first == std::string::npos ? std::string() : rest.substr(first);
    out.push_back(std::move(r));
  }
  std::sort(out.begin(), out.end(), [](const MappedRange& a, const MappedRange& b) { return a.start < b.start; });
  return out;
}

AddressSpace address_space(Target& target) {
  AddressSpace space;
  if (target.is_live_local() && target.pid() > 0) {
    std::ifstream in(fmt::format("/proc/{}/maps", target.pid()));
    if (in) {
      std::stringstream text;
      text << in.rdbuf();
      space.ranges = parse_proc_maps(text.str());
      space.complete = !space.ranges.empty();
      if (space.complete) return space;
    }
  }
  space.ranges = target.mapped_ranges();
  std::sort(space.ranges.begin(), space.ranges.end(),
            [](const MappedRange& a, const MappedRange& b) { return a.start < b.start; });
  return space;
}

namespace {

template <class T>
T get(const std::vector<std::byte>& b, std::size_t off) {
  T v{};
  std::memcpy(&v, b.data() + off, sizeof v);
  return v;
}

constexpr uint32_t kPtLoad = 1, kPtNote = 4, kNtGnuBuildId = 3;

}  // namespace

std::optional<std::string> elf_build_id_at(Memory& mem, uint64_t start) {
  auto ehdr = mem.read_bytes(start, 64);
  if (!ehdr) return std::nullopt;
  const auto& e = *ehdr;
  if (std::memcmp(e.data(),
                  "\x7f"
                  "ELF",
                  4) != 0 ||
      get<uint8_t>(e, 4) != 2 /* 64-bit */ || get<uint8_t>(e, 5) != 1 /* little-endian */)
    return std::nullopt;
  const auto phoff = get<uint64_t>(e, 0x20);
  const auto phentsize = get<uint16_t>(e, 0x36);
  const auto phnum = get<uint16_t>(e, 0x38);
  if (phentsize < 56 || phnum == 0 || phnum > 128 || phoff > (1u << 20)) return std::nullopt;
  auto ph = mem.read_bytes(start + phoff, static_cast<std::size_t>(phentsize) * phnum);
  if (!ph) return std::nullopt;
  // The image is mapped at start - (first PT_LOAD's page-aligned vaddr).
  std::optional<uint64_t> first_load;
  for (uint16_t i = 0; i < phnum; ++i) {
    const std::size_t at = static_cast<std::size_t>(i) * phentsize;
    if (get<uint32_t>(*ph, at) == kPtLoad) {
      first_load = get<uint64_t>(*ph, at + 0x10) & ~uint64_t{0xfff};
      break;
    }
  }
  if (!first_load) return std::nullopt;
  const uint64_t bias = start - *first_load;
  for (uint16_t i = 0; i < phnum; ++i) {
    const std::size_t at = static_cast<std::size_t>(i) * phentsize;
    if (get<uint32_t>(*ph, at) != kPtNote) continue;
    const uint64_t vaddr = get<uint64_t>(*ph, at + 0x10);
    const uint64_t size = get<uint64_t>(*ph, at + 0x20);
    if (size < 12 || size > 4096) continue;
    auto notes = mem.read_bytes(bias + vaddr, static_cast<std::size_t>(size));
    if (!notes) continue;
    const auto& n = *notes;
    std::size_t pos = 0;
    while (pos + 12 <= n.size()) {
      const uint32_t namesz = get<uint32_t>(n, pos), descsz = get<uint32_t>(n, pos + 4),
                     type = get<uint32_t>(n, pos + 8);
      const std::size_t name_at = pos + 12;
      const std::size_t desc_at = name_at + ((static_cast<std::size_t>(namesz) + 3) & ~std::size_t{3});
      const std::size_t next = desc_at + ((static_cast<std::size_t>(descsz) + 3) & ~std::size_t{3});
      if (namesz > 64 || descsz > 1024 || next > n.size()) break;
      if (type == kNtGnuBuildId && namesz == 4 && std::memcmp(n.data() + name_at, "GNU", 4) == 0 && descsz > 0) {
        std::string hex;
        for (uint32_t k = 0; k < descsz; ++k) hex += fmt::format("{:02x}", static_cast<unsigned>(n[desc_at + k]));
        return hex;
      }
      pos = next;
    }
  }
  return std::nullopt;
}

std::string normalize_build_id(std::string_view id) {
  std::string out;
  for (char c : id)
    if (std::isxdigit(static_cast<unsigned char>(c)))
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace pyxray
