// A CPython process made of bytes: tests build a memory image by hand, hand it to the real decoders
// through a Target, and check what comes out. This is how versions that cannot run on the test
// machine (3.14, 3.15) are tested end to end.
//
//  - Image: a sparse little-endian address space (a map of zero-filled regions).
//  - SyntheticTarget: a Target over an Image, with a symbol table and a list of native threads; no
//    debuginfo (type_offset is always nullopt) and never a live local process, so every byte the
//    decoders see comes from the image.
//  - DebugOffsets helpers: the members of a real _Py_DebugOffsets block in struct order, and the
//    block's bytes, so that _PyRuntime can start with a block describing the image's own structs.
//  - ObjectBuilder: lays out CPython objects (types, str, bytes, code) in a heap region.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "target/target.hpp"

namespace pyxray::synthetic {

using Bytes = std::vector<std::byte>;

// ---- memory

class Image {
 public:
  // Maps [addr, addr + size) filled with zeros. Regions must not overlap.
  void map(uint64_t addr, std::size_t size);
  bool is_mapped(uint64_t addr, std::size_t len = 1) const;

  // Writes must land in mapped memory: writing elsewhere is a bug in the test, so it throws.
  void write(uint64_t addr, std::span<const std::byte> data);
  void write_u8(uint64_t addr, uint8_t v);
  void write_u16(uint64_t addr, uint16_t v);
  void write_u32(uint64_t addr, uint32_t v);
  void write_u64(uint64_t addr, uint64_t v);
  void write_ptr(uint64_t addr, uint64_t v) { write_u64(addr, v); }
  void write_cstring(uint64_t addr, std::string_view s);  // with its NUL

  uint64_t read_u64(uint64_t addr) const;  // throws when unmapped
  // Target::read_memory semantics: the number of leading bytes that are mapped (regions that touch
  // are read across).
  std::size_t read(uint64_t addr, std::span<std::byte> out) const;

 private:
  // The region holding addr, or end().
  std::map<uint64_t, Bytes>::const_iterator find(uint64_t addr) const;
  std::map<uint64_t, Bytes> regions_;  // by start address
};

// ---- the debugger

class SyntheticTarget final : public Target {
 public:
  explicit SyntheticTarget(std::shared_ptr<const Image> image, int pid = 4242) : image_(std::move(image)), pid_(pid) {}

  void add_symbol(std::string name, uint64_t addr) { symbols_[std::move(name)] = addr; }
  void add_thread(NativeThread t) { threads_.push_back(std::move(t)); }
  void add_loaded_object(LoadedObject o) { objects_.push_back(std::move(o)); }
  void select_thread(int64_t tid) { selected_ = tid; }
  std::size_t reads() const { return reads_; }

  int pid() const override { return pid_; }
  bool is_live_local() const override { return false; }
  std::size_t read_memory(uint64_t addr, std::span<std::byte> out) override;
  std::optional<uint64_t> symbol_address(std::string_view name) override;
  std::optional<int64_t> type_offset(std::string_view, std::string_view) override { return std::nullopt; }
  std::vector<NativeThread> threads() override { return threads_; }
  std::optional<int64_t> selected_thread() override { return selected_; }
  std::vector<LoadedObject> loaded_objects() override { return objects_; }

 private:
  std::shared_ptr<const Image> image_;
  int pid_;
  std::map<std::string, uint64_t, std::less<>> symbols_;
  std::vector<NativeThread> threads_;
  std::vector<LoadedObject> objects_;
  std::optional<int64_t> selected_;
  std::size_t reads_ = 0;
};

// ---- _Py_DebugOffsets

struct DebugOffsetsMember {
  std::string name;  // "section.member", as in CPython's pycore_debug_offsets.h
  uint64_t value;
};
using DebugOffsetsMembers = std::vector<DebugOffsetsMember>;

// Every member of a GIL build's block in struct order, with the values of a real x86-64 build:
// 3.14 (b2 and later, 92 members, 760 bytes) and 3.15 (b4 and later, 108 members, 888 bytes).
DebugOffsetsMembers debug_offsets_314();
DebugOffsetsMembers debug_offsets_315();

// Value of one member; throws if there is no such member (a typo in a test).
uint64_t member(const DebugOffsetsMembers& members, std::string_view name);
void set_member(DebugOffsetsMembers& members, std::string_view name, uint64_t value);

// The block's bytes: cookie "xdebugpy", version, free_threaded, then every member as a uint64_t.
Bytes debug_offsets_block(uint32_t version_hex, bool free_threaded, const DebugOffsetsMembers& members);

// ---- objects

// Struct offsets the builder writes objects with (64-bit GIL build). Take them from the block with
// object_layout() so that the objects match what the block says; fields the block does not describe
// keep the values of CPython 3.14/3.15's headers.
struct ObjectLayout {
  int64_t ob_type = 8;
  int64_t ob_size = 16;     // PyVarObject
  int64_t type_size = 416;  // sizeof(PyTypeObject)
  int64_t tp_name = 24;
  int64_t tp_basicsize = 32;
  int64_t tp_flags = 168;
  int64_t ascii_length = 16;
  int64_t ascii_state = 32;
  int64_t ascii_size = 40;  // sizeof(PyASCIIObject): compact ASCII data follows
  int64_t bytes_sval = 32;
  int64_t code_size = 216;  // sizeof(PyCodeObject), co_code_adaptive[1] included
  int64_t co_flags = 48;
  int64_t co_argcount = 52;
  int64_t co_firstlineno = 68;
  int64_t co_filename = 112;
  int64_t co_name = 120;
  int64_t co_qualname = 128;
  int64_t co_linetable = 136;
  // Not in the block. 3.14 inserted Py_ssize_t _co_unique_id before _co_firsttraceable (3.13: 184),
  // and GIL builds never initialise it.
  int64_t co_unique_id = 184;
  int64_t co_firsttraceable = 192;
  int64_t co_code_adaptive = 208;
};

ObjectLayout object_layout(const DebugOffsetsMembers& members);

struct CodeSpec {
  std::string name;
  std::string qualname;
  std::string filename;
  int first_line = 1;
  uint32_t flags = 0;
  int argcount = 0;
  int first_traceable = 0;      // _co_firsttraceable, in code units
  Bytes code;                   // co_code, stored at co_code_adaptive
  Bytes linetable;              // co_linetable
  uint64_t unique_id_slot = 0;  // what happens to lie in _co_unique_id
};

class ObjectBuilder {
 public:
  // Objects are allocated from [base, base + size), which the builder maps.
  ObjectBuilder(Image& image, uint64_t base, std::size_t size, ObjectLayout layout = {});

  Image& image() { return image_; }
  const ObjectLayout& layout() const { return layout_; }

  // size bytes of zeros, aligned as CPython's allocators align objects.
  uint64_t alloc(std::size_t size, std::size_t align = 16);
  uint64_t cstring(std::string_view s);
  // An object of `size` bytes whose ob_type is `type` (refcount 1).
  uint64_t object(uint64_t type, std::size_t size);

  // The type object with this tp_name, created on first use; its own type is "type". The same
  // address every time, as with CPython's static types.
  uint64_t type(std::string_view tp_name);
  // A compact ASCII str (PyASCIIObject: kind 1, compact, ascii; data right after the header).
  uint64_t str(std::string_view ascii, bool interned = true);
  uint64_t bytes(std::span<const std::byte> data);
  uint64_t code(const CodeSpec& spec);
  // Address of a code object's first instruction (_PyCode_CODE).
  uint64_t code_start(uint64_t code) const { return code + layout_.co_code_adaptive; }

 private:
  Image& image_;
  ObjectLayout layout_;
  uint64_t next_;
  uint64_t end_;
  std::unordered_map<std::string, uint64_t> types_;
};

}  // namespace pyxray::synthetic
