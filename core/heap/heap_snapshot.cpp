#include "heap/heap_snapshot.hpp"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/thousands.hpp"

namespace pyxray {
namespace {

using json = nlohmann::json;

constexpr char kMagic[8] = {'P', 'Y', 'X', 'H', 'E', 'A', 'P', '\0'};
constexpr std::size_t kPreamble = 20;  // magic, format, body length
constexpr std::size_t kTrailer = 4;    // CRC-32
constexpr const char* kFormatName = "pyxray-heap-snapshot";

void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint64_t get_le(std::span<const uint8_t> in, std::size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(in[at + i]) << (8 * i);
  return v;
}

void put_uleb(std::vector<uint8_t>& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<uint8_t>(v));
}

// One LEB128 value from `col` at `at`; false at the end or on a value longer than 64 bits.
bool get_uleb(const std::vector<uint8_t>& col, std::size_t& at, uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (at >= col.size()) return false;
    uint8_t b = col[at++];
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

uint32_t crc32_of(std::span<const uint8_t> body) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib takes lengths as uInt: feed a large body in pieces.
  std::size_t at = 0;
  while (at < body.size()) {
    std::size_t n = std::min<std::size_t>(body.size() - at, 1u << 30);
    crc = crc32(crc, body.data() + at, static_cast<uInt>(n));
    at += n;
  }
  return static_cast<uint32_t>(crc);
}

json identity_json(const ProcessIdentity& p) {
  json j = {{"source", p.source}, {"pid", p.pid}, {"exe", p.exe}};
  if (p.start_ticks) j["start_ticks"] = p.start_ticks;
  if (!p.boot_id.empty()) j["boot_id"] = p.boot_id;
  return j;
}

ProcessIdentity identity_from(const json& j) {
  ProcessIdentity p;
  p.source = j.at("source").get<std::string>();
  p.pid = j.at("pid").get<int64_t>();
  p.exe = j.value("exe", "");
  p.start_ticks = j.value("start_ticks", uint64_t{0});
  p.boot_id = j.value("boot_id", "");
  return p;
}

std::vector<uint8_t> bytes_of(const json& j) {
  const auto& b = j.get_binary();
  return std::vector<uint8_t>(b.begin(), b.end());
}

}  // namespace

void ObjectColumns::add(uint64_t addr, uint32_t type, uint64_t size) {
  // Signed deltas, zigzag-coded: the walk goes up within an arena but jumps back between arenas
  // and for objects found outside them.
  const int64_t delta = static_cast<int64_t>(addr - prev_);
  put_uleb(addr_, (static_cast<uint64_t>(delta) << 1) ^ static_cast<uint64_t>(delta >> 63));
  prev_ = addr;
  put_uleb(type_, type);
  put_uleb(size_, size);
  ++count_;
}

void ObjectColumns::finish(HeapSnapshot& s) {
  s.has_objects = true;
  s.object_count = count_;
  s.addr_col = std::move(addr_);
  s.type_col = std::move(type_);
  s.size_col = std::move(size_);
}

std::string encode_snapshot(const HeapSnapshot& s) {
  json body;
  body["format"] = kFormatName;
  body["version"] = kSnapshotFormat;
  body["pyxray"] = s.pyxray_version;
  body["taken_at"] = s.taken_at;
  body["time"] = s.time;
  body["seconds"] = s.seconds;
  body["process"] = identity_json(s.process);
  body["python"] = {{"version", s.python_version}, {"free_threaded", s.free_threaded}};
  body["totals"] = {{"objects", s.objects}, {"bytes", s.bytes}, {"partial", s.partial}, {"warnings", s.warnings}};
  json types = json::array();
  for (const auto& t : s.types)
    types.push_back({{"module", t.module},
                     {"qualname", t.qualname},
                     {"name", t.name},
                     {"addr", t.addr},
                     {"count", t.count},
                     {"bytes", t.bytes},
                     {"max", t.max}});
  if (!s.generation_names.empty()) {
    body["generation_names"] = s.generation_names;
    for (std::size_t i = 0; i < s.types.size(); ++i) types[i]["gens"] = s.types[i].gens;
  }
  body["types"] = std::move(types);
  if (s.has_objects) {
    body["objects"] = {{"count", s.object_count},
                       {"addr", json::binary(s.addr_col)},
                       {"type", json::binary(s.type_col)},
                       {"size", json::binary(s.size_col)}};
    if (!s.gen_col.empty()) body["objects"]["gen"] = json::binary(s.gen_col);
  }
  const std::vector<uint8_t> cbor = json::to_cbor(body);
  std::string out(kMagic, sizeof kMagic);
  put_le(out, kSnapshotFormat, 4);
  put_le(out, cbor.size(), 8);
  out.append(reinterpret_cast<const char*>(cbor.data()), cbor.size());
  put_le(out, crc32_of(cbor), 4);
  return out;
}

Expected<HeapSnapshot> decode_snapshot(std::span<const uint8_t> in) {
  if (in.size() < sizeof kMagic || std::memcmp(in.data(), kMagic, sizeof kMagic) != 0)
    return fail("is not a pyxray heap snapshot");
  if (in.size() < kPreamble)
    return fail(fmt::format("is truncated: {} of at least {} bytes", thousands(in.size()), kPreamble + kTrailer));
  const uint32_t format = static_cast<uint32_t>(get_le(in, 8, 4));
  if (format == 0) return fail("is not a pyxray heap snapshot (format 0)");
  if (format > kSnapshotFormat)
    return fail(fmt::format("is a heap snapshot of format {}, newer than this pyxray reads ({}): use a newer pyxray",
                            format, kSnapshotFormat));
  const uint64_t length = get_le(in, 12, 8);
  const uint64_t available = in.size() - kPreamble;
  if (length > available || available - length < kTrailer) {
    // The length is trusted only as far as a sane one goes: a damaged length reads as truncated too,
    // which the CRC of an intact file never would have caught.
    const uint64_t want = length > UINT64_MAX - kPreamble - kTrailer ? 0 : kPreamble + length + kTrailer;
    return fail(want ? fmt::format("is truncated: {} of {} bytes", thousands(in.size()), thousands(want))
                     : std::string("is not a pyxray heap snapshot (its length field is damaged)"));
  }
  if (available - length > kTrailer)
    return fail(
        fmt::format("is damaged: {} bytes after the end of the snapshot", thousands(available - length - kTrailer)));
  const auto body = in.subspan(kPreamble, length);
  const uint32_t crc = static_cast<uint32_t>(get_le(in, kPreamble + length, 4));
  if (crc != crc32_of(body)) return fail("is damaged: its checksum does not match its contents");
  try {
    const json j = json::from_cbor(body.begin(), body.end(), /*strict=*/true, /*allow_exceptions=*/true);
    if (!j.is_object() || j.value("format", "") != kFormatName)
      return fail("is not a pyxray heap snapshot (the body is not one)");
    HeapSnapshot s;
    s.pyxray_version = j.value("pyxray", "");
    s.taken_at = j.at("taken_at").get<std::string>();
    s.time = j.value("time", 0.0);
    s.seconds = j.value("seconds", 0.0);
    s.process = identity_from(j.at("process"));
    s.python_version = j.at("python").at("version").get<std::string>();
    s.free_threaded = j.at("python").value("free_threaded", false);
    const json& totals = j.at("totals");
    s.objects = totals.at("objects").get<uint64_t>();
    s.bytes = totals.at("bytes").get<uint64_t>();
    s.partial = totals.value("partial", false);
    if (totals.contains("warnings")) s.warnings = totals.at("warnings").get<std::vector<std::string>>();
    for (const auto& t : j.at("types")) {
      SnapshotType st;
      st.module = t.at("module").get<std::string>();
      st.qualname = t.at("qualname").get<std::string>();
      st.name = t.value("name", st.module + "." + st.qualname);
      st.addr = t.value("addr", uint64_t{0});
      st.count = t.at("count").get<uint64_t>();
      st.bytes = t.at("bytes").get<uint64_t>();
      st.max = t.value("max", uint64_t{0});
      if (t.contains("gens")) st.gens = t.at("gens").get<std::vector<uint64_t>>();
      s.types.push_back(std::move(st));
    }
    if (j.contains("objects")) {
      const json& o = j.at("objects");
      s.has_objects = true;
      s.object_count = o.at("count").get<uint64_t>();
      s.addr_col = bytes_of(o.at("addr"));
      s.type_col = bytes_of(o.at("type"));
      s.size_col = bytes_of(o.at("size"));
      if (o.contains("gen")) s.gen_col = bytes_of(o.at("gen"));
      if (!s.gen_col.empty() && s.gen_col.size() != s.object_count)
        return fail("is damaged: its generation column does not match its object count");
    }
    if (j.contains("generation_names")) s.generation_names = j.at("generation_names").get<std::vector<std::string>>();
    return s;
  } catch (const json::exception& e) {
    return fail(fmt::format("is not a pyxray heap snapshot ({})", e.what()));
  }
}

Expected<std::vector<SnapshotObject>> snapshot_objects(const HeapSnapshot& s) {
  if (!s.has_objects) return fail("was taken without --objects: it lists types, not objects");
  std::vector<SnapshotObject> out;
  // Each object takes at least one byte of each column: a count beyond that is a damaged count.
  if (s.object_count > s.type_col.size()) return fail("is damaged: its object count exceeds its columns");
  out.reserve(s.object_count);
  std::size_t a = 0, t = 0, z = 0;
  uint64_t prev = 0;
  for (uint64_t i = 0; i < s.object_count; ++i) {
    uint64_t zig = 0, type = 0, size = 0;
    if (!get_uleb(s.addr_col, a, zig) || !get_uleb(s.type_col, t, type) || !get_uleb(s.size_col, z, size))
      return fail(fmt::format("is damaged: its object columns end at object {}", thousands(i)));
    if (type >= s.types.size()) return fail(fmt::format("is damaged: object {} has no type", thousands(i)));
    const int64_t delta = static_cast<int64_t>(zig >> 1) ^ -static_cast<int64_t>(zig & 1);
    prev += static_cast<uint64_t>(delta);
    out.push_back({prev, static_cast<uint32_t>(type), size, s.gen_col.empty() ? uint8_t{0} : s.gen_col[i]});
  }
  return out;
}

Expected<HeapSnapshot> read_snapshot_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return fail(fmt::format("cannot read {}: {}", path, std::strerror(errno)));
  // One read of the whole file: a snapshot with --objects is tens of MB, too many for a byte-wise
  // stream iterator.
  f.seekg(0, std::ios::end);
  const std::streamoff size = f.tellg();
  f.seekg(0, std::ios::beg);
  if (size < 0 || !f) return fail(fmt::format("cannot read {}: it is not a regular file", path));
  std::vector<uint8_t> bytes(static_cast<std::size_t>(size));
  f.read(reinterpret_cast<char*>(bytes.data()), size);
  if (f.gcount() != size) return fail(fmt::format("cannot read {}: {}", path, std::strerror(errno)));
  auto s = decode_snapshot(bytes);
  if (!s) return fail(fmt::format("{} {}", path, s.error().message));
  return s;
}

}  // namespace pyxray
