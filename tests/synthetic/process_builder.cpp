#include "process_builder.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include <fmt/format.h>

#include "free_threaded_block.hpp"
#include "interp/python_process.hpp"

namespace pyxray::synthetic {
namespace {

// Where things live, as in a real process: libpython's text (never read: function addresses only),
// .rodata and .data, _PyRuntime and the main interpreter, the malloc heap, pymalloc's arena, one data
// stack per thread (3.11+) and the main thread's C stack.
constexpr uint64_t kExeBase = 0x55d01c400000;
constexpr uint64_t kLibpythonBase = 0x7f3a5d000000;
constexpr uint64_t kText = 0x7f3a5d200000;
constexpr uint64_t kRodata = 0x7f3a5d5e0000;
constexpr std::size_t kRodataSize = 64 << 10;
constexpr uint64_t kData = 0x7f3a5d700000;
constexpr std::size_t kDataSize = 128 << 10;
constexpr uint64_t kRuntime = 0x7f3a5d800000;
constexpr std::size_t kRuntimeSize = 64 << 10;
constexpr uint64_t kInterp = 0x7f3a5d900000;
constexpr std::size_t kInterpSize = 64 << 10;
constexpr uint64_t kHeap = 0x55d01e000000;
constexpr std::size_t kHeapSize = 512 << 10;
constexpr uint64_t kArena = 0x7f3a5a000000;  // aligned to every arena size
constexpr uint64_t kMaxPools = 48;
constexpr uint64_t kChunkBase = 0x7f3a5c000000;
constexpr std::size_t kChunkSize = 16 << 10;
constexpr uint64_t kCStack = 0x7ffc8a000000;
constexpr std::size_t kCStackSize = 64 << 10;
constexpr int kPid = 4242;
constexpr uint64_t kArenaSlots = 16;
// Free-threaded builds: ob_tid of the objects the builder makes (_Py_ThreadId() of the main thread,
// its TLS base, which glibc makes pthread_self()), and the capacity of every code object's co_tlbc.
constexpr uint64_t kOwnerTid = 0x7f3a5d9e8740;
constexpr int64_t kTlbcSlots = 4;

// Type flags (the same bits in every 3.x).
constexpr uint64_t kTpManagedDict = 1 << 4;
constexpr uint64_t kTpHeapType = 1 << 9;
constexpr uint64_t kTpBaseType = 1 << 10;
constexpr uint64_t kTpReady = 1 << 12;
constexpr uint64_t kTpHaveGc = 1 << 14;
constexpr uint64_t kTpLongSubclass = 1ull << 24, kTpListSubclass = 1ull << 25, kTpTupleSubclass = 1ull << 26,
                   kTpBytesSubclass = 1ull << 27, kTpUnicodeSubclass = 1ull << 28, kTpDictSubclass = 1ull << 29,
                   kTpTypeSubclass = 1ull << 31;
// Code flags.
constexpr uint32_t kCoOptimized = 0x1, kCoNewLocals = 0x2, kCoGenerator = 0x20;
constexpr uint8_t kFastLocal = 0x20;
// Frame owners (3.11+).
constexpr uint8_t kOwnedByThread = 0, kOwnedByGenerator = 1, kOwnedByCStack = 3;

int64_t or_default(int64_t v, int64_t d) { return v == kAbsent ? d : v; }

template <class T>
std::span<const std::byte> bytes_of(const T& v) {
  return std::as_bytes(std::span<const T, 1>(&v, 1));
}

std::vector<uint32_t> code_points(std::string_view utf8) {
  std::vector<uint32_t> out;
  for (std::size_t i = 0; i < utf8.size();) {
    auto c = static_cast<unsigned char>(utf8[i]);
    int n = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
    uint32_t cp = n == 1 ? c : n == 2 ? c & 0x1f : n == 3 ? c & 0x0f : c & 0x07;
    for (int k = 1; k < n && i + k < utf8.size(); ++k) cp = cp << 6 | (static_cast<unsigned char>(utf8[i + k]) & 0x3f);
    out.push_back(cp);
    i += n;
  }
  return out;
}

void append_varint(std::vector<std::byte>& out, uint32_t v) {
  while (v >= 64) {
    out.push_back(static_cast<std::byte>(64 | (v & 63)));
    v >>= 6;
  }
  out.push_back(static_cast<std::byte>(v));
}

void append_signed_varint(std::vector<std::byte>& out, int v) {
  append_varint(out, v < 0 ? (static_cast<uint32_t>(-v) << 1) | 1 : static_cast<uint32_t>(v) << 1);
}

}  // namespace

struct ProcessBuilder::Thread {
  int64_t native_id = 0;
  uint64_t ident = 0;
  std::string os_name;
  std::string threading_name;
  uint64_t tstate = 0;
  uint64_t cframe = 0;  // 3.11-3.12
  uint64_t chunk = 0;   // 3.11+: its data stack
  uint64_t stack_top = 0;
  uint64_t top = 0;        // innermost frame
  bool has_entry = false;  // the evaluation loop's first (entry) frame is pushed
  int32_t tlbc_index = 0;  // 3.14t: the copy of the bytecode its frames run
};

struct ProcessBuilder::Pool {
  uint64_t addr = 0;
  unsigned szidx = 0;
  uint32_t count = 0;
  uint32_t nextoffset = 0;
};

ProcessBuilder::ProcessBuilder(uint32_t version_hex, BuilderOptions options)
    : version_hex_(version_hex),
      version_(version_from_hex(version_hex)),
      minor_(version_.minor),
      options_(options),
      image_(std::make_shared<Image>()) {
  if (version_.major != 3 || minor_ < 9 || minor_ > 14)
    throw std::invalid_argument(fmt::format("ProcessBuilder: no layout for {}", version_.text()));
  if (options_.free_threaded && (minor_ < 13 || options_.pymalloc))
    throw std::invalid_argument("ProcessBuilder: free-threaded builds are 3.13+ and use mimalloc, not pymalloc");
  image_->map(kRodata, kRodataSize);
  image_->map(kData, kDataSize);
  image_->map(kRuntime, kRuntimeSize);
  image_->map(kInterp, kInterpSize);
  image_->map(kHeap, kHeapSize);
  image_->map(kCStack, kCStackSize);
  rodata_next_ = kRodata + 0x100;
  rodata_end_ = kRodata + kRodataSize;
  static_next_ = kData;
  static_end_ = kData + kDataSize;
  heap_next_ = kHeap;
  heap_end_ = kHeap + kHeapSize;
  text_next_ = kText;
  cstack_top_ = kCStack + kCStackSize;
  runtime_ = kRuntime;
  interp_ = kInterp;

  std::string lib = fmt::format("/usr/local/lib/libpython3.{}.so.1.0", minor_);
  objects_.push_back({fmt::format("/usr/local/bin/python3.{}", minor_), kExeBase, std::nullopt});
  objects_.push_back({lib, kLibpythonBase, std::nullopt});
  symbols_["_PyRuntime"] = kRuntime;
  symbols_["Py_Initialize"] = text_address();
  if (minor_ >= 11) {  // Py_Version is exported from 3.11 on; older versions are known by libpython's name
    uint64_t v = rodata_next_;
    rodata_next_ += 16;
    put_u32(v, version_hex);
    symbols_["Py_Version"] = v;
  }
  if (options_.free_threaded) {
    // The block of the free-threaded build of the same version (free_threaded_block.hpp).
    DebugOffsetsMembers gil = minor_ == 13 ? debug_offsets_313() : debug_offsets_314();
    put(kRuntime, debug_offsets_block(version_hex, true, free_threaded_members(std::move(gil), minor_)));
  } else if (minor_ == 13 || minor_ == 14) {
    // The first bytes of _PyRuntime of the real build whose table the core carries (3.13.0 from
    // pyenv, 3.14.10 from Debian sid).
    const char* file = minor_ == 13 ? PYXRAY_TEST_DATA_DIR "/debug_offsets/cpython-3.13.0-pyruntime.bin"
                                    : PYXRAY_TEST_DATA_DIR "/debug_offsets/cpython-3.14.10-pyruntime.bin";
    std::ifstream in(file, std::ios::binary);
    std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (raw.empty()) throw std::runtime_error(std::string("ProcessBuilder: cannot read ") + file);
    put(kRuntime, std::as_bytes(std::span(raw)));
  }

  // The layout the core will use: ask it, on the bare runtime.
  auto bare = target();
  auto proc = PythonProcess::open(*bare);
  if (!proc) throw std::runtime_error("ProcessBuilder: the core refuses the bare runtime: " + proc.error().message);
  L_ = (*proc)->layout();
  traits_ = &(*proc)->traits();
  if (options_.free_threaded != (*proc)->layout_sources().free_threaded)
    throw std::runtime_error("ProcessBuilder: the core does not see the build the block describes");
  grow_ = L_.object_ob_type - 8;  // the object header's growth over a GIL build's 16 bytes

  setup_types();
  setup_runtime();
  setup_allocator();
}

ProcessBuilder::~ProcessBuilder() = default;

// --- writes

void ProcessBuilder::put(uint64_t addr, std::span<const std::byte> data) {
  if (data.empty()) return;
  image_->write(addr, data);
  written_.emplace_back(addr, addr + data.size());
}
void ProcessBuilder::put_u8(uint64_t addr, uint8_t v) { put(addr, bytes_of(v)); }
void ProcessBuilder::put_u32(uint64_t addr, uint32_t v) { put(addr, bytes_of(v)); }
void ProcessBuilder::put_u64(uint64_t addr, uint64_t v) { put(addr, bytes_of(v)); }
void ProcessBuilder::put_cstring(uint64_t addr, std::string_view s) {
  std::vector<std::byte> b(s.size() + 1);
  std::memcpy(b.data(), s.data(), s.size());
  put(addr, b);
}
void ProcessBuilder::field_u64(uint64_t base, int64_t off, uint64_t v) {
  if (off != kAbsent) put_u64(base + static_cast<uint64_t>(off), v);
}
void ProcessBuilder::field_u32(uint64_t base, int64_t off, uint32_t v) {
  if (off != kAbsent) put_u32(base + static_cast<uint64_t>(off), v);
}
void ProcessBuilder::field_u8(uint64_t base, int64_t off, uint8_t v) {
  if (off != kAbsent) put_u8(base + static_cast<uint64_t>(off), v);
}

std::vector<Window> ProcessBuilder::windows() const {
  auto ranges = written_;
  std::sort(ranges.begin(), ranges.end());
  std::vector<Window> out;
  constexpr uint64_t kGap = 16;
  for (const auto& [start, end] : ranges) {
    if (!out.empty() && start <= out.back().addr + out.back().size + kGap) {
      uint64_t new_end = std::max<uint64_t>(out.back().addr + out.back().size, end);
      out.back().size = static_cast<std::size_t>(new_end - out.back().addr);
    } else {
      out.push_back({start, static_cast<std::size_t>(end - start)});
    }
  }
  return out;
}

// --- memory

uint64_t ProcessBuilder::heap_alloc(std::size_t size, std::size_t align) {
  uint64_t at = (heap_next_ + align - 1) & ~uint64_t{align - 1};
  if (at + size > heap_end_) throw std::length_error("ProcessBuilder: the heap is full");
  heap_next_ = at + std::max<std::size_t>(size, 16);
  return at;
}

uint64_t ProcessBuilder::static_alloc(std::size_t size, std::size_t align) {
  uint64_t at = (static_next_ + align - 1) & ~uint64_t{align - 1};
  if (at + size > static_end_) throw std::length_error("ProcessBuilder: libpython's data is full");
  static_next_ = at + size;
  return at;
}

uint64_t ProcessBuilder::cstring(std::string_view s) {
  uint64_t at = rodata_next_;
  if (at + s.size() + 1 > rodata_end_) throw std::length_error("ProcessBuilder: .rodata is full");
  rodata_next_ += s.size() + 1;
  put_cstring(at, s);
  return at;
}

uint64_t ProcessBuilder::text_address() {
  uint64_t at = text_next_;
  text_next_ += 0x40;
  return at;
}

uint64_t ProcessBuilder::alloc_object(std::size_t pre, std::size_t size) {
  const std::size_t total = pre + size;
  if (!options_.pymalloc || total > 512) return heap_alloc(total) + pre;
  const unsigned szidx = static_cast<unsigned>((total + 15) / 16 - 1);
  const uint32_t bsize = (szidx + 1) * 16;
  const uint64_t pool_size = minor_ >= 10 ? 16 << 10 : 4 << 10;
  const uint64_t arena_size = minor_ >= 10 ? 1 << 20 : 256 << 10;
  const int64_t hsize = or_default(L_.pool_header_size, 48);
  Pool* pool = nullptr;
  for (auto& p : pools_)
    if (p->szidx == szidx && p->nextoffset + bsize <= pool_size) pool = p.get();
  if (!pool) {
    if (pools_carved_ >= kMaxPools) throw std::length_error("ProcessBuilder: the arena is full");
    auto p = std::make_unique<Pool>();
    p->addr = arena_ + pools_carved_ * pool_size;
    p->szidx = szidx;
    p->nextoffset = static_cast<uint32_t>((hsize + 15) / 16 * 16);
    ++pools_carved_;
    field_u32(p->addr, or_default(L_.pool_header_arenaindex, 32), 0);
    field_u32(p->addr, or_default(L_.pool_header_szidx, 36), szidx);
    field_u32(p->addr, or_default(L_.pool_header_maxnextoffset, 44), static_cast<uint32_t>(pool_size - bsize));
    // The arena's first uncarved pool and its free pool count.
    const int64_t slot = 0;
    field_u64(arena_vector_ + slot, or_default(L_.arena_object_pool_address, 8), arena_ + pools_carved_ * pool_size);
    field_u32(arena_vector_ + slot, or_default(L_.arena_object_nfreepools, 16),
              static_cast<uint32_t>(arena_size / pool_size - pools_carved_));
    pools_.push_back(std::move(p));
    pool = pools_.back().get();
  }
  uint64_t block = pool->addr + pool->nextoffset;
  pool->nextoffset += bsize;
  ++pool->count;
  field_u32(pool->addr, or_default(L_.pool_header_count, 0), pool->count);
  put_u32(pool->addr + 40, pool->nextoffset);  // nextoffset, right before maxnextoffset
  return block + pre;
}

void ProcessBuilder::put_header(uint64_t obj, uint64_t type, bool immortal) {
  if (options_.free_threaded) {
    // Biased reference counting: the owner's count, the others' (none) and the owner; an immortal
    // object has ob_ref_local UINT32_MAX and no owner.
    put_u64(obj, immortal ? 0 : kOwnerTid);
    put_u32(obj + L_.object_ob_ref_local, immortal ? 0xffffffffu : 1);
    put_u64(obj + L_.object_ob_ref_shared, 0);
  } else {
    put_u64(obj + or_default(L_.object_ob_refcnt, 0), !immortal ? 1 : minor_ >= 12 ? 0xffffffffu : 1000);
  }
  put_u64(obj + L_.object_ob_type, type);
}

uint64_t ProcessBuilder::new_object(uint64_t type, std::size_t size, bool gc, std::size_t managed) {
  // Free-threaded builds put no PyGC_Head before objects: the GC finds them in mimalloc's heaps.
  const bool gc_head = gc && !options_.free_threaded;
  const std::size_t gch = gc_head ? static_cast<std::size_t>(or_default(L_.gc_head_size, 16)) : 0;
  uint64_t obj = alloc_object(gch + managed, size);
  put_header(obj, type, false);
  if (gc_head) gc_track(obj);
  return obj;
}

uint64_t ProcessBuilder::new_var_object(uint64_t type, std::size_t size, int64_t ob_size, bool gc) {
  uint64_t obj = new_object(type, size, gc);
  put_u64(obj + L_.varobject_ob_size, static_cast<uint64_t>(ob_size));
  return obj;
}

// Appends obj to the oldest generation's list (a circular list through the generation's head).
void ProcessBuilder::gc_track(uint64_t obj) {
  const uint64_t gch = static_cast<uint64_t>(or_default(L_.gc_head_size, 16));
  const uint64_t gen_size = static_cast<uint64_t>(or_default(L_.gc_generation_size, 24));
  const uint64_t head = interp_ + static_cast<uint64_t>(L_.interp_gc_generations) + 2 * gen_size;
  const uint64_t node = obj - gch;
  const uint64_t last = image_->read_u64(head + 8);
  put_u64(node, head);      // _gc_next
  put_u64(node + 8, last);  // _gc_prev
  put_u64(last, node);
  put_u64(head + 8, node);
  gc_objects_.push_back(obj);
}

// --- types

uint64_t ProcessBuilder::static_type(std::string_view tp_name, std::string_view symbol, int64_t basicsize,
                                     int64_t itemsize, uint64_t flags, uint64_t base) {
  uint64_t t = static_alloc(static_cast<std::size_t>(or_default(L_.type_size, 416 + grow_)));
  uint64_t meta = tp_name == "type" ? t : types_.at("type");
  put_header(t, meta, true);  // immortal from 3.12
  put_u64(t + L_.type_tp_name, cstring(tp_name));
  put_u64(t + L_.type_tp_basicsize, static_cast<uint64_t>(basicsize));
  field_u64(t, L_.type_tp_itemsize, static_cast<uint64_t>(itemsize));
  put_u64(t + L_.type_tp_flags, flags | kTpReady);
  field_u64(t, L_.type_tp_base, base);
  uint64_t repr = text_address();
  field_u64(t, L_.type_tp_repr, repr);
  if (tp_name == "object") object_repr_ = repr;
  types_[std::string(tp_name)] = t;
  if (!symbol.empty()) symbols_[std::string(symbol)] = t;
  return t;
}

uint64_t ProcessBuilder::builtin_type(std::string_view tp_name) const {
  auto it = types_.find(tp_name);
  if (it == types_.end()) throw std::invalid_argument(fmt::format("ProcessBuilder: no builtin type {}", tp_name));
  return it->second;
}

void ProcessBuilder::setup_types() {
  // `type` first: every other type is an instance of it.
  static_type("type", "PyType_Type", or_default(L_.heaptype_size, 920), or_default(L_.memberdef_size, 40),
              kTpHaveGc | kTpBaseType | kTpTypeSubclass, 0);
  uint64_t object = static_type("object", "PyBaseObject_Type", 16 + grow_, 0, kTpBaseType, 0);
  field_u64(builtin_type("type"), L_.type_tp_base, object);
  const int64_t digit_at = L_.long_lv_tag != kAbsent ? L_.long_value_ob_digit : L_.long_ob_digit;
  uint64_t int_t =
      static_type("int", "PyLong_Type", digit_at, or_default(L_.digit_size, 4), kTpBaseType | kTpLongSubclass, object);
  static_type("bool", "PyBool_Type", digit_at + 8, 0, kTpLongSubclass, int_t);
  static_type("float", "PyFloat_Type", 24 + grow_, 0, kTpBaseType, object);
  static_type("str", "PyUnicode_Type", or_default(L_.unicode_object_size, 64), 0, kTpBaseType | kTpUnicodeSubclass,
              object);
  static_type("bytes", "PyBytes_Type", L_.bytes_ob_sval + 1, 1, kTpBaseType | kTpBytesSubclass, object);
  static_type("tuple", "PyTuple_Type", L_.tuple_ob_item, 8, kTpHaveGc | kTpBaseType | kTpTupleSubclass, object);
  static_type("list", "PyList_Type", 40 + grow_, 0, kTpHaveGc | kTpBaseType | kTpListSubclass, object);
  static_type("dict", "PyDict_Type", 48 + grow_, 0, kTpHaveGc | kTpBaseType | kTpDictSubclass, object);
  static_type("set", "PySet_Type", 200 + grow_, 0, kTpHaveGc | kTpBaseType, object);
  static_type("frozenset", "PyFrozenSet_Type", 200 + grow_, 0, kTpHaveGc | kTpBaseType, object);
  uint64_t module = static_type("module", "PyModule_Type", 64 + grow_, 0, kTpHaveGc | kTpBaseType, object);
  field_u64(module, L_.type_tp_dictoffset, static_cast<uint64_t>(or_default(L_.module_md_dict, 16)));
  static_type("function", "PyFunction_Type", 160 + grow_, 0, kTpHaveGc, object);
  if (minor_ >= 11) static_type("code", "PyCode_Type", L_.code_co_code_adaptive, 2, 0, object);
  else static_type("code", "PyCode_Type", 200, 0, 0, object);
  if (minor_ <= 10) static_type("frame", "PyFrame_Type", or_default(L_.frame_object_size, 360), 8, kTpHaveGc, object);
  if (minor_ >= 11)
    static_type("generator", "PyGen_Type", or_default(L_.gen_gi_iframe, 72) + L_.iframe_localsplus, 8, kTpHaveGc,
                object);
  static_type("cell", "PyCell_Type", 24 + grow_, 0, kTpHaveGc, object);
  uint64_t none_t = static_type("NoneType", "_PyNone_Type", 16 + grow_, 0, 0, object);
  uint64_t dummy_t = static_type("<dummy key> type", "", 16 + grow_, 0, 0, object);

  // The singletons, in libpython's data like CPython's.
  none_ = static_alloc(16 + grow_);
  put_header(none_, none_t, true);
  symbols_["_Py_NoneStruct"] = none_;
  for (bool value : {false, true}) {
    uint64_t b = static_alloc(32 + grow_);
    put_header(b, builtin_type("bool"), true);
    if (L_.long_lv_tag != kAbsent) {
      put_u64(b + L_.long_lv_tag, value ? 1 << 3 : 1);
    } else {
      put_u64(b + L_.varobject_ob_size, value ? 1 : 0);
    }
    put_u32(b + digit_at, value ? 1 : 0);
    (value ? true_ : false_) = b;
    symbols_[value ? "_Py_TrueStruct" : "_Py_FalseStruct"] = b;
  }
  set_dummy_ = static_alloc(16 + grow_);
  put_header(set_dummy_, dummy_t, true);
  uint64_t dummy_ptr = static_alloc(8, 8);
  put_u64(dummy_ptr, set_dummy_);
  symbols_["_PySet_Dummy"] = dummy_ptr;
}

// --- runtime, interpreter, allocator

void ProcessBuilder::setup_runtime() {
  put_u64(runtime_ + L_.runtime_interpreters_head, interp_);
  field_u64(runtime_, L_.runtime_interpreters_main, interp_);
  field_u64(interp_, L_.interp_next, 0);
  field_u64(interp_, L_.interp_id, 0);
  // Empty GC lists: each generation's head points at itself (free-threaded builds have none).
  const uint64_t gen_size = static_cast<uint64_t>(or_default(L_.gc_generation_size, 24));
  for (int i = 0; i < 3 && L_.interp_gc_generations != kAbsent; ++i) {
    uint64_t head = interp_ + static_cast<uint64_t>(L_.interp_gc_generations) + i * gen_size;
    put_u64(head, head);
    put_u64(head + 8, head);
    put_u32(head + 16, i == 0 ? 2000 : 10);  // threshold
  }
  if (L_.interp_gc_permanent_generation != kAbsent) {
    uint64_t head = interp_ + static_cast<uint64_t>(L_.interp_gc_permanent_generation);
    put_u64(head, head);
    put_u64(head + 8, head);
  }
  field_u32(interp_, L_.interp_gc_collecting, 0);
  if (L_.interp_ceval_gil != kAbsent) {  // 3.12+: a per-interpreter GIL, released
    gil_ = heap_alloc(128);
    put_u64(interp_ + L_.interp_ceval_gil, gil_);
    field_u32(gil_, L_.gil_locked, 0);
    field_u64(gil_, L_.gil_last_holder, 0);
  }
}

void ProcessBuilder::setup_allocator() {
  // The object allocator is pymalloc: the obj domain's malloc is _PyObject_Malloc, not the raw one.
  uint64_t raw_malloc = text_address(), obj_malloc = text_address();
  symbols_["_PyObject_Malloc"] = obj_malloc;
  auto domain = [&](uint64_t at, uint64_t malloc) {
    field_u64(at, or_default(L_.allocator_ex_ctx, 0), 0);
    field_u64(at, or_default(L_.allocator_ex_malloc, 8), malloc);
  };
  if (L_.runtime_allocators_standard_obj != kAbsent) {
    domain(runtime_ + L_.runtime_allocators_standard_raw, raw_malloc);
    domain(runtime_ + L_.runtime_allocators_standard_mem, obj_malloc);
    domain(runtime_ + L_.runtime_allocators_standard_obj, obj_malloc);
  } else {
    for (auto [name, malloc] :
         {std::pair{"_PyMem_Raw", raw_malloc}, std::pair{"_PyMem", obj_malloc}, std::pair{"_PyObject", obj_malloc}}) {
      uint64_t at = static_alloc(40, 8);
      domain(at, malloc);
      symbols_[name] = at;
    }
  }

  // The arena vector: one arena when objects go to pymalloc, none otherwise.
  const uint64_t slot_size = static_cast<uint64_t>(or_default(L_.arena_object_size, 48));
  const uint64_t slots = options_.pymalloc ? kArenaSlots : 0;
  const uint64_t arena_size = minor_ >= 10 ? 1 << 20 : 256 << 10;
  const uint64_t pool_size = minor_ >= 10 ? 16 << 10 : 4 << 10;
  if (options_.pymalloc) {
    arena_ = kArena;
    image_->map(arena_, kMaxPools * pool_size);
    arena_vector_ = heap_alloc(slots * slot_size);
    field_u64(arena_vector_, or_default(L_.arena_object_address, 0), arena_);
    field_u64(arena_vector_, or_default(L_.arena_object_pool_address, 8), arena_);
    field_u32(arena_vector_, or_default(L_.arena_object_nfreepools, 16), static_cast<uint32_t>(arena_size / pool_size));
    field_u32(arena_vector_, or_default(L_.arena_object_ntotalpools, 20),
              static_cast<uint32_t>(arena_size / pool_size));
  }
  const uint64_t narenas = options_.pymalloc ? 1 : 0;
  if (minor_ <= 11) {
    auto var = [&](const char* name, uint64_t value, bool u32) {
      uint64_t at = static_alloc(8, 8);
      if (u32) put_u32(at, static_cast<uint32_t>(value));
      else put_u64(at, value);
      symbols_[name] = at;
    };
    var("arenas", arena_vector_, false);
    var("maxarenas", slots, true);
    var("narenas_currently_allocated", narenas, false);
    var("ntimes_arena_allocated", narenas, false);
    var("narenas_highwater", narenas, false);
    return;
  }
  if (L_.interp_obmalloc == kAbsent || L_.obmalloc_mgmt_arenas == kAbsent) return;
  uint64_t state = interp_ + L_.interp_obmalloc;
  if (minor_ >= 13) {  // interp->obmalloc points at the main interpreter's state, a static
    int64_t size = std::max({L_.obmalloc_mgmt_arenas, L_.obmalloc_mgmt_maxarenas, L_.obmalloc_mgmt_narenas_highwater,
                             L_.obmalloc_mgmt_ntimes_arena_allocated, L_.obmalloc_mgmt_narenas_currently_allocated});
    state = static_alloc(static_cast<std::size_t>(size + 64), 16);
    put_u64(interp_ + L_.interp_obmalloc, state);
    symbols_["obmalloc_state_main"] = state;
  }
  obmalloc_state_ = state;
  put_u64(state + L_.obmalloc_mgmt_arenas, arena_vector_);
  put_u32(state + L_.obmalloc_mgmt_maxarenas, static_cast<uint32_t>(slots));
  field_u64(state, L_.obmalloc_mgmt_narenas_currently_allocated, narenas);
  field_u64(state, L_.obmalloc_mgmt_ntimes_arena_allocated, narenas);
  field_u64(state, L_.obmalloc_mgmt_narenas_highwater, narenas);
}

// --- objects

uint64_t ProcessBuilder::str(std::string_view text) {
  std::vector<uint32_t> cps = code_points(text);
  uint32_t max = cps.empty() ? 0 : *std::max_element(cps.begin(), cps.end());
  const bool ascii = max < 0x80;
  const int kind = max < 0x100 ? 1 : max < 0x10000 ? 2 : 4;
  const int64_t header = ascii ? L_.ascii_size : L_.compact_unicode_size;
  const std::size_t size = static_cast<std::size_t>(header) + (cps.size() + 1) * kind;
  uint64_t s = new_object(builtin_type("str"), size, false);
  put_u64(s + L_.ascii_length, cps.size());
  put_u64(s + L_.ascii_length + 8, ~uint64_t{0});  // hash: not computed yet
  // state: interned:2 kind:3 compact:1 ascii:1, then ready (3.3-3.11)
  uint32_t state =
      1u | static_cast<uint32_t>(kind) << 2 | 1u << 5 | (ascii ? 1u << 6 : 0) | (minor_ <= 11 ? 1u << 7 : 0);
  if (options_.free_threaded)  // interned is a whole byte: interned, then kind:3 compact:1 ascii:1
    state = 1u | static_cast<uint32_t>(kind) << 8 | 1u << 11 | (ascii ? 1u << 12 : 0);
  put_u32(s + L_.ascii_state, state);
  std::vector<std::byte> data((cps.size() + 1) * kind);
  for (std::size_t i = 0; i < cps.size(); ++i) std::memcpy(data.data() + i * kind, &cps[i], kind);
  put(s + static_cast<uint64_t>(header), data);
  notable_.push_back(s);
  return s;
}

uint64_t ProcessBuilder::bytes(std::string_view data) {
  uint64_t b = new_var_object(builtin_type("bytes"), static_cast<std::size_t>(L_.bytes_ob_sval) + data.size() + 1,
                              static_cast<int64_t>(data.size()), false);
  put_u64(b + L_.bytes_ob_sval - 8, ~uint64_t{0});  // ob_shash
  put_cstring(b + L_.bytes_ob_sval, data);
  notable_.push_back(b);
  return b;
}

uint64_t ProcessBuilder::integer(int64_t v) {
  uint64_t mag = v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
  std::vector<uint32_t> digits;
  for (uint64_t m = mag; m; m >>= 30) digits.push_back(static_cast<uint32_t>(m & ((1u << 30) - 1)));
  const int64_t digit_at = L_.long_lv_tag != kAbsent ? L_.long_value_ob_digit : L_.long_ob_digit;
  const std::size_t size = static_cast<std::size_t>(digit_at) + 4 * std::max<std::size_t>(digits.size(), 1);
  uint64_t obj = new_object(builtin_type("int"), size, false);
  if (L_.long_lv_tag != kAbsent) {
    uint64_t sign = v == 0 ? 1 : v < 0 ? 2 : 0;
    put_u64(obj + L_.long_lv_tag, digits.size() << 3 | sign);
  } else {
    int64_t n = static_cast<int64_t>(digits.size());
    put_u64(obj + L_.varobject_ob_size, static_cast<uint64_t>(v < 0 ? -n : n));
  }
  if (digits.empty()) digits.push_back(0);
  put(obj + digit_at, std::as_bytes(std::span(digits)));
  notable_.push_back(obj);
  return obj;
}

uint64_t ProcessBuilder::floating(double v) {
  uint64_t obj = new_object(builtin_type("float"), 24 + grow_, false);
  put(obj + or_default(L_.float_ob_fval, 16), bytes_of(v));
  notable_.push_back(obj);
  return obj;
}

uint64_t ProcessBuilder::tuple(const std::vector<uint64_t>& items) {
  uint64_t t = new_var_object(builtin_type("tuple"), static_cast<std::size_t>(L_.tuple_ob_item) + 8 * items.size(),
                              static_cast<int64_t>(items.size()), true);
  if (!items.empty()) put(t + L_.tuple_ob_item, std::as_bytes(std::span(items)));
  notable_.push_back(t);
  return t;
}

uint64_t ProcessBuilder::list(const std::vector<uint64_t>& items) {
  uint64_t l = new_var_object(builtin_type("list"), 40 + grow_, static_cast<int64_t>(items.size()), true);
  uint64_t array = 0;
  if (!items.empty()) {
    array = alloc_object(0, 8 * items.size());
    put(array, std::as_bytes(std::span(items)));
  }
  put_u64(l + L_.list_ob_item, array);
  field_u64(l, L_.list_allocated, items.size());
  notable_.push_back(l);
  return l;
}

uint64_t ProcessBuilder::dict(const std::vector<std::pair<uint64_t, uint64_t>>& items) {
  const std::size_t n = items.size();
  uint64_t size = 8;
  while (size * 2 / 3 < n) size *= 2;
  const uint64_t usable = size * 2 / 3;
  bool unicode = minor_ >= 11 && !items.empty();
  for (const auto& [k, v] : items) unicode = unicode && image_->read_u64(k + L_.object_ob_type) == builtin_type("str");
  const uint64_t entry = unicode ? 16 : static_cast<uint64_t>(or_default(L_.dictkeyentry_size, 24));
  const uint64_t keys_size = static_cast<uint64_t>(L_.dictkeys_dk_indices) + size + usable * entry;
  uint64_t keys = alloc_object(0, keys_size);
  field_u64(keys, L_.dictkeys_dk_refcnt, 1);
  if (L_.dictkeys_dk_log2_size != kAbsent) {
    uint8_t log2 = static_cast<uint8_t>(std::countr_zero(size));
    put_u8(keys + L_.dictkeys_dk_log2_size, log2);
    put_u8(keys + L_.dictkeys_dk_log2_index_bytes, log2);  // one byte per index below 128 slots
    put_u8(keys + L_.dictkeys_dk_kind, unicode ? 1 : 0);
  } else {
    put_u64(keys + L_.dictkeys_dk_size, size);
    put_u64(keys + L_.dictkeys_dk_size + 8, text_address());  // dk_lookup
  }
  field_u64(keys, L_.dictkeys_dk_usable, usable - n);
  put_u64(keys + L_.dictkeys_dk_nentries, n);
  std::vector<std::byte> indices(size, std::byte{0xff});  // DKIX_EMPTY
  for (std::size_t i = 0; i < n; ++i) indices[i] = static_cast<std::byte>(i);
  put(keys + L_.dictkeys_dk_indices, indices);
  const uint64_t entries = keys + L_.dictkeys_dk_indices + size;
  for (std::size_t i = 0; i < n; ++i) {
    uint64_t e = entries + i * entry;
    if (unicode) {
      put_u64(e, items[i].first);
      put_u64(e + 8, items[i].second);
    } else {
      put_u64(e, items[i].first * 0x9e3779b97f4a7c15ull | 1);  // me_hash
      put_u64(e + 8, items[i].first);
      put_u64(e + 16, items[i].second);
    }
  }
  uint64_t d = new_object(builtin_type("dict"), 48 + grow_, true);
  put_u64(d + L_.dict_ma_used, n);
  put_u64(d + L_.dict_ma_keys, keys);
  put_u64(d + L_.dict_ma_values, 0);
  notable_.push_back(d);
  return d;
}

uint64_t ProcessBuilder::dict_str(const std::vector<std::pair<std::string, uint64_t>>& items) {
  std::vector<std::pair<uint64_t, uint64_t>> kv;
  for (const auto& [k, v] : items) kv.emplace_back(str(k), v);
  return dict(kv);
}

uint64_t ProcessBuilder::set(const std::vector<uint64_t>& items, bool frozen) {
  if (items.size() > 5) throw std::invalid_argument("ProcessBuilder: sets hold at most 5 items (the small table)");
  uint64_t s = new_object(builtin_type(frozen ? "frozenset" : "set"), 200 + grow_, true);
  const uint64_t small = s + static_cast<uint64_t>(or_default(L_.set_smalltable, 64));
  put_u64(s + L_.set_used - 8, items.size());  // fill
  put_u64(s + L_.set_used, items.size());
  put_u64(s + L_.set_mask, 7);
  put_u64(s + L_.set_table, small);
  const uint64_t entry = static_cast<uint64_t>(or_default(L_.setentry_size, 16));
  for (std::size_t i = 0; i < items.size(); ++i) {
    put_u64(small + i * entry + or_default(L_.setentry_key, 0), items[i]);
    put_u64(small + i * entry + 8, items[i] >> 4);  // hash
  }
  notable_.push_back(s);
  return s;
}

uint64_t ProcessBuilder::cell(uint64_t value) {
  uint64_t c = new_object(builtin_type("cell"), 24 + grow_, true);
  put_u64(c + or_default(L_.cell_ob_ref, 16), value);
  notable_.push_back(c);
  return c;
}

uint64_t ProcessBuilder::heap_class(std::string_view name, std::string_view module) {
  // + the empty members; a free-threaded heap type ends with a unique id (no table row gives its size)
  const std::size_t size =
      static_cast<std::size_t>(or_default(L_.heaptype_size, 920 + grow_ + (options_.free_threaded ? 8 : 0))) + 8;
  uint64_t t = new_var_object(builtin_type("type"), size, 0, true);
  uint64_t flags = kTpHeapType | kTpBaseType | kTpReady | kTpHaveGc | (minor_ >= 11 ? kTpManagedDict : 0);
  put_u64(t + L_.type_tp_name, cstring(name));
  put_u64(t + L_.type_tp_basicsize, minor_ >= 11 ? 16 + grow_ : 32);
  field_u64(t, L_.type_tp_itemsize, 0);
  put_u64(t + L_.type_tp_flags, flags);
  field_u64(t, L_.type_tp_dictoffset, minor_ >= 11 ? ~uint64_t{0} : 16);
  field_u64(t, L_.type_tp_base, builtin_type("object"));
  field_u64(t, L_.type_tp_repr, object_repr_);
  field_u64(t, L_.heaptype_ht_name, str(name));
  field_u64(t, L_.heaptype_ht_qualname, str(name));
  field_u64(t, L_.heaptype_ht_cached_keys, 0);
  field_u64(t, L_.type_tp_dict, dict_str({{"__module__", str(module)}}));
  notable_.push_back(t);
  return t;
}

uint64_t ProcessBuilder::instance(uint64_t cls, const std::vector<std::pair<std::string, uint64_t>>& attrs) {
  uint64_t d = dict_str(attrs);
  uint64_t obj = 0;
  if (minor_ >= 11) {  // the dict lives before the object (obj[-3], free-threaded obj[-1]), its values slot is empty
    obj = new_object(cls, 16 + grow_, true, 16);
    put_u64(obj + traits_->managed_values_offset, 0);
    put_u64(obj + traits_->managed_dict_offset, d);
  } else {
    obj = new_object(cls, 32, true);
    put_u64(obj + 16, d);  // tp_dictoffset
    put_u64(obj + 24, 0);  // weakrefs
  }
  notable_.push_back(obj);
  return obj;
}

uint64_t ProcessBuilder::module(std::string_view name, uint64_t dict) {
  if (!dict) dict = dict_str({{"__name__", str(name)}});
  uint64_t m = new_object(builtin_type("module"), 64 + grow_, true);
  put_u64(m + or_default(L_.module_md_dict, 16), dict);
  notable_.push_back(m);
  return m;
}

uint64_t ProcessBuilder::function(uint64_t code, std::string_view name, std::string_view qualname, uint64_t globals) {
  uint64_t f = new_object(builtin_type("function"), 160 + grow_, true);
  field_u64(f, L_.function_func_name, str(name));
  field_u64(f, L_.function_func_qualname, str(qualname));
  // func_code and func_globals are not in the layout; the decoders only name functions.
  (void)code;
  (void)globals;
  notable_.push_back(f);
  return f;
}

std::vector<std::byte> ProcessBuilder::line_table(const FuncSpec& spec) const {
  std::vector<std::byte> out;
  auto b = [&](int v) { out.push_back(static_cast<std::byte>(v & 0xff)); };
  // Runs of code units with the same line.
  struct Run {
    int line;
    int units;
  };
  std::vector<Run> runs;
  for (int line : spec.lines) {
    if (!runs.empty() && runs.back().line == line) ++runs.back().units;
    else runs.push_back({line, 1});
  }
  int cur = spec.first_line;
  if (minor_ <= 9) {  // co_lnotab: (byte increment, signed line increment) where the line changes
    int at = 0, last = 0;
    for (const Run& r : runs) {
      int line = r.line < 0 ? cur : r.line;
      if (line != cur) {
        int addr = at - last;
        for (; addr > 255; addr -= 255) b(255), b(0);
        int delta = line - cur;
        for (; delta > 127; delta -= 127) b(addr), b(127), addr = 0;
        for (; delta < -128; delta += 128) b(addr), b(-128), addr = 0;
        b(addr), b(delta);
        last = at;
        cur = line;
      }
      at += 2 * r.units;
    }
  } else if (minor_ == 10) {  // co_linetable: (byte length, signed line delta; -128: no line) per range
    for (const Run& r : runs) {
      int delta = r.line < 0 ? -128 : r.line - cur;
      if (r.line >= 0) {
        for (; delta > 127; delta -= 127) b(0), b(127);
        for (; delta < -127; delta += 127) b(0), b(-127);
        cur = r.line;
      }
      for (int len = 2 * r.units; len > 0; len -= 254) {
        b(std::min(len, 254)), b(delta);
        if (delta != -128) delta = 0;
      }
    }
  } else {  // the location table: "no columns" entries of up to 8 code units, "no location" entries
    for (const Run& r : runs) {
      for (int left = r.units; left > 0; left -= 8) {
        int len = std::min(left, 8);
        if (r.line < 0) {
          b(0x80 | 15 << 3 | (len - 1));
        } else {
          b(0x80 | 13 << 3 | (len - 1));
          append_signed_varint(out, r.line - cur);
          cur = r.line;
        }
      }
    }
  }
  return out;
}

uint64_t ProcessBuilder::code(const FuncSpec& spec) {
  uint64_t filename = str(spec.filename);
  uint64_t name = str(spec.name);
  uint64_t qualname = minor_ >= 11 ? str(spec.qualname.empty() ? spec.name : spec.qualname) : 0;
  std::vector<std::byte> table = line_table(spec);
  uint64_t linetable = bytes(std::string_view(reinterpret_cast<const char*>(table.data()), table.size()));
  std::vector<uint64_t> names;
  for (const auto& v : spec.varnames) names.push_back(str(v));
  uint64_t names_tuple = tuple(names);
  const int units = static_cast<int>(spec.lines.size());
  uint64_t c = 0;
  if (minor_ >= 11) {
    std::string kinds(spec.varnames.size(), static_cast<char>(kFastLocal));
    uint64_t kinds_bytes = bytes(kinds);
    c = new_var_object(builtin_type("code"), static_cast<std::size_t>(L_.code_co_code_adaptive) + 2 * units, units,
                       false);
    field_u64(c, L_.code_co_localsplusnames, names_tuple);
    field_u64(c, L_.code_co_localspluskinds, kinds_bytes);
    field_u32(c, L_.code_co_nlocalsplus, static_cast<uint32_t>(names.size()));
    field_u64(c, L_.code_co_qualname, qualname);
    field_u64(c, L_.code_co_linetable, linetable);
    field_u32(c, L_.code_co_firsttraceable, 0);
    std::vector<std::byte> units_bytes(2 * units);
    for (int i = 0; i < units; ++i) units_bytes[2 * i] = std::byte{9};  // NOP
    put(c + L_.code_co_code_adaptive, units_bytes);
    if (L_.code_co_tlbc != kAbsent) {  // 3.14t: entry 0 is the code object's own bytecode
      uint64_t array = heap_alloc(static_cast<std::size_t>(L_.codearray_entries + 8 * kTlbcSlots));
      put_u64(array + L_.codearray_size, 1);
      put_u64(array + L_.codearray_entries, c + L_.code_co_code_adaptive);
      put_u64(c + L_.code_co_tlbc, array);
    }
  } else {
    uint64_t empty = tuple({});
    c = new_object(builtin_type("code"), 200, false);
    field_u64(c, L_.code_co_varnames, names_tuple);
    field_u64(c, L_.code_co_cellvars, empty);
    field_u64(c, L_.code_co_freevars, empty);
    field_u64(c, L_.code_co_linetable != kAbsent ? L_.code_co_linetable : L_.code_co_lnotab, linetable);
  }
  uint32_t flags = spec.optimized ? kCoOptimized | kCoNewLocals : 0;
  if (spec.generator) flags |= kCoGenerator;
  field_u32(c, L_.code_co_flags, flags);
  field_u32(c, L_.code_co_argcount, static_cast<uint32_t>(spec.argcount));
  field_u32(c, L_.code_co_kwonlyargcount, 0);
  field_u32(c, L_.code_co_nlocals, static_cast<uint32_t>(names.size()));
  field_u32(c, L_.code_co_stacksize, 4);
  field_u32(c, L_.code_co_firstlineno, static_cast<uint32_t>(spec.first_line));
  field_u64(c, L_.code_co_filename, filename);
  field_u64(c, L_.code_co_name, name);
  code_units_[c] = units;
  notable_.push_back(c);
  return c;
}

uint64_t ProcessBuilder::code_start(uint64_t code) const {
  return code + static_cast<uint64_t>(L_.code_co_code_adaptive);
}

uint64_t ProcessBuilder::bytecode_copy(uint64_t code, int32_t index) {
  if (index == 0) return code_start(code);
  if (L_.code_co_tlbc == kAbsent || index < 0 || index >= kTlbcSlots)
    throw std::invalid_argument(
        fmt::format("ProcessBuilder: no thread-local bytecode {} in {}", index, version_.text()));
  const uint64_t array = image_->read_u64(code + L_.code_co_tlbc);
  const uint64_t slot = array + L_.codearray_entries + 8 * static_cast<uint64_t>(index);
  if (uint64_t copy = image_->read_u64(slot)) return copy;
  // A copy as _PyCode_GetTLBC makes it: the bytecode, specialised on its own, elsewhere in the heap.
  const int units = code_units(code);
  std::vector<std::byte> bytecode(2 * static_cast<std::size_t>(units));
  image_->read(code_start(code), bytecode);
  uint64_t copy = heap_alloc(bytecode.size());
  put(copy, bytecode);
  put_u64(slot, copy);
  put_u64(array + L_.codearray_size, std::max<uint64_t>(image_->read_u64(array + L_.codearray_size), index + 1));
  return copy;
}

int ProcessBuilder::code_units(uint64_t code) const {
  auto it = code_units_.find(code);
  return it == code_units_.end() ? 0 : it->second;
}

// --- threads and frames

int ProcessBuilder::add_thread(int64_t native_id, uint64_t ident, std::string os_name, std::string threading_name) {
  auto t = std::make_unique<Thread>();
  t->native_id = native_id;
  t->ident = ident;
  t->os_name = std::move(os_name);
  t->threading_name = std::move(threading_name);
  t->tstate = heap_alloc(1024);
  put_u64(t->tstate + L_.tstate_interp, interp_);
  put_u64(t->tstate + L_.tstate_thread_id, ident);
  field_u64(t->tstate, L_.tstate_native_thread_id, static_cast<uint64_t>(native_id));
  // PyThreadState_New puts the newest thread at the head of the list.
  int64_t head_off = L_.interp_threads_head != kAbsent ? L_.interp_threads_head : L_.interp_tstate_head;
  uint64_t old_head = image_->read_u64(interp_ + head_off);
  put_u64(t->tstate + L_.tstate_next, old_head);
  if (old_head) put_u64(old_head, t->tstate);  // prev
  put_u64(interp_ + head_off, t->tstate);
  if (L_.tstate_cframe != kAbsent) {  // 3.11-3.12: the C stack's _PyCFrame
    cstack_top_ -= 64;
    t->cframe = cstack_top_;
    put_u64(t->tstate + L_.tstate_cframe, t->cframe);
    put_u64(t->cframe + L_.cframe_current_frame, 0);
  }
  if (L_.tstate_datastack_chunk != kAbsent) {
    t->chunk = kChunkBase + threads_.size() * 0x10000;
    image_->map(t->chunk, kChunkSize);
    field_u64(t->chunk, L_.chunk_previous, 0);
    put_u64(t->chunk + L_.chunk_size, kChunkSize);
    put_u64(t->chunk + L_.chunk_top, 0);
    t->stack_top = t->chunk + static_cast<uint64_t>(L_.chunk_data);
    put_u64(t->tstate + L_.tstate_datastack_chunk, t->chunk);
  }
  if (L_.tstate_frame != kAbsent) put_u64(t->tstate + L_.tstate_frame, 0);
  if (L_.tstate_current_frame != kAbsent) put_u64(t->tstate + L_.tstate_current_frame, 0);
  if (options_.free_threaded) field_u32(t->tstate, L_.tstate_state, 0);  // detached: blocked outside Python
  threads_.push_back(std::move(t));
  return static_cast<int>(threads_.size() - 1);
}

uint64_t ProcessBuilder::thread_state(int thread) const { return threads_.at(thread)->tstate; }
int64_t ProcessBuilder::native_id(int thread) const { return threads_.at(thread)->native_id; }

void ProcessBuilder::set_attached(int thread, bool attached) {
  if (L_.tstate_state == kAbsent) throw std::invalid_argument("ProcessBuilder: thread states have no `state` here");
  put_u32(thread_state(thread) + L_.tstate_state, attached ? 1 : 0);
}

void ProcessBuilder::set_tlbc_index(int thread, int32_t index) { threads_.at(thread)->tlbc_index = index; }

void ProcessBuilder::set_gil_holder(int thread) {
  uint64_t ts = thread < 0 ? 0 : thread_state(thread);
  if (gil_) {
    field_u32(gil_, L_.gil_locked, ts ? 1 : 0);
    field_u64(gil_, L_.gil_last_holder, ts);
  } else if (L_.runtime_gilstate_tstate_current != kAbsent) {
    put_u64(runtime_ + L_.runtime_gilstate_tstate_current, ts);
  }
}

uint64_t ProcessBuilder::data_stack_alloc(Thread& t, std::size_t size) {
  uint64_t at = t.stack_top;
  if (at + size > t.chunk + kChunkSize) throw std::length_error("ProcessBuilder: the data stack is full");
  t.stack_top += size;
  put_u64(t.chunk + L_.chunk_top, (t.stack_top - t.chunk - L_.chunk_data) / 8);
  return at;
}

uint64_t ProcessBuilder::interp_frame(Thread& t, uint64_t where, uint64_t code, int instr, uint8_t owner,
                                      const std::vector<uint64_t>& fast_locals, uint64_t globals,
                                      uint64_t locals_dict) {
  const int64_t code_field = L_.iframe_f_executable != kAbsent ? L_.iframe_f_executable : L_.iframe_f_code;
  const int64_t instr_field = L_.iframe_instr_ptr != kAbsent ? L_.iframe_instr_ptr : L_.iframe_prev_instr;
  const bool tagged = minor_ >= 14;
  put_u64(where + code_field, code | (tagged && code ? 1 : 0));  // 3.14: a _PyStackRef, Py_TAG_REFCNT
  put_u64(where + L_.iframe_previous, t.top);
  // 3.14t: the frame runs its thread's copy of the bytecode, and says which.
  const int32_t copy = code && L_.iframe_tlbc_index != kAbsent ? t.tlbc_index : 0;
  if (L_.iframe_tlbc_index != kAbsent) put_u32(where + L_.iframe_tlbc_index, static_cast<uint32_t>(copy));
  put_u64(where + instr_field, code ? bytecode_copy(code, copy) + 2 * static_cast<uint64_t>(instr) : 0);
  field_u8(where, L_.iframe_owner, owner);
  field_u64(where, L_.iframe_f_globals, globals);
  field_u64(where, L_.iframe_f_builtins, 0);
  field_u64(where, L_.iframe_f_locals, locals_dict);
  for (std::size_t i = 0; i < fast_locals.size(); ++i)
    put_u64(where + L_.iframe_localsplus + 8 * i, fast_locals[i] | (tagged && fast_locals[i] ? 1 : 0));
  t.top = where;
  if (L_.tstate_current_frame != kAbsent) put_u64(t.tstate + L_.tstate_current_frame, where);
  else put_u64(t.cframe + L_.cframe_current_frame, where);
  return where;
}

uint64_t ProcessBuilder::push_frame(int thread, uint64_t code, int instr, const std::vector<uint64_t>& fast_locals,
                                    uint64_t globals, uint64_t locals_dict) {
  Thread& t = *threads_.at(thread);
  if (minor_ <= 10) {
    const std::size_t basic = static_cast<std::size_t>(or_default(L_.frame_object_size, 360));
    uint64_t f = new_var_object(builtin_type("frame"), basic + 8 * fast_locals.size(),
                                static_cast<int64_t>(fast_locals.size()), true);
    put_u64(f + L_.frame_f_back, t.top);
    put_u64(f + L_.frame_f_code, code);
    field_u64(f, L_.frame_f_builtins, 0);
    field_u64(f, L_.frame_f_globals, globals);
    field_u64(f, L_.frame_f_locals, locals_dict);
    field_u64(f, L_.frame_f_trace, 0);
    put_u32(f + L_.frame_f_lasti, static_cast<uint32_t>(minor_ == 10 ? instr : 2 * instr));
    field_u32(f, L_.frame_f_lineno, 0);
    for (std::size_t i = 0; i < fast_locals.size(); ++i) put_u64(f + L_.frame_f_localsplus + 8 * i, fast_locals[i]);
    t.top = f;
    put_u64(t.tstate + L_.tstate_frame, f);
    return f;
  }
  if (minor_ >= 12 && !t.has_entry) {
    // Each entry into the evaluation loop from C starts with a shim frame on the C stack.
    cstack_top_ -= 128;
    interp_frame(t, cstack_top_, 0, 0, kOwnedByCStack, {}, 0, 0);
  }
  const std::size_t size = static_cast<std::size_t>(L_.iframe_localsplus) + 8 * (fast_locals.size() + 4);
  uint64_t f =
      interp_frame(t, data_stack_alloc(t, size), code, instr, kOwnedByThread, fast_locals, globals, locals_dict);
  if (minor_ == 11 && !t.has_entry) field_u8(f, L_.iframe_is_entry, 1);
  t.has_entry = true;
  return f;
}

uint64_t ProcessBuilder::push_generator(int thread, uint64_t code, int instr, const std::vector<uint64_t>& fast_locals,
                                        uint64_t globals) {
  if (minor_ <= 10) throw std::invalid_argument("ProcessBuilder: generator frames are frame objects before 3.11");
  Thread& t = *threads_.at(thread);
  const int64_t iframe = or_default(L_.gen_gi_iframe, 72);
  const std::size_t size = static_cast<std::size_t>(iframe + L_.iframe_localsplus) + 8 * (fast_locals.size() + 4);
  uint64_t gen = new_object(builtin_type("generator"), size, true);
  field_u64(gen, L_.gen_gi_code, code);
  interp_frame(t, gen + static_cast<uint64_t>(iframe), code, instr, kOwnedByGenerator, fast_locals, globals, 0);
  notable_.push_back(gen);
  return gen;
}

void ProcessBuilder::finish_modules(uint64_t main_globals) {
  uint64_t thread_cls = heap_class("Thread", "threading");
  std::vector<std::pair<uint64_t, uint64_t>> active;
  for (const auto& t : threads_)
    active.emplace_back(integer(static_cast<int64_t>(t->ident)),
                        instance(thread_cls, {{"_name", str(t->threading_name)}}));
  uint64_t threading = module("threading", dict_str({{"__name__", str("threading")}, {"_active", dict(active)}}));
  uint64_t sys_dict = dict_str({{"__name__", str("sys")},
                                {"version", str(fmt::format("{}.{}.{} (main, Jan  1 2025, 00:00:00) [GCC 12.2.0]",
                                                            version_.major, version_.minor, version_.micro))}});
  uint64_t sys = module("sys", sys_dict);
  uint64_t main = module("__main__", main_globals);
  uint64_t modules = dict({{str("sys"), sys}, {str("threading"), threading}, {str("__main__"), main}});
  int64_t modules_off = L_.interp_imports_modules != kAbsent ? L_.interp_imports_modules : L_.interp_modules;
  put_u64(interp_ + modules_off, modules);
  field_u64(interp_, L_.interp_sysdict, sys_dict);
  field_u64(interp_, L_.interp_builtins, dict_str({{"len", none_}}));
}

std::unique_ptr<SyntheticTarget> ProcessBuilder::target(std::shared_ptr<const Image> image,
                                                        std::optional<int64_t> selected) const {
  auto t = std::make_unique<SyntheticTarget>(image ? std::move(image) : image_, kPid);
  for (const auto& [name, addr] : symbols_) t->add_symbol(name, addr);
  for (const auto& o : objects_) t->add_loaded_object(o);
  for (const auto& th : threads_) t->add_thread({th->native_id, th->ident, th->os_name});
  if (selected) t->select_thread(*selected);
  return t;
}

}  // namespace pyxray::synthetic
