// Processes described by their _Py_DebugOffsets, end to end, without running them: CPython 3.14,
// 3.15, and versions newer than pyxray knows. A synthetic process image (a _PyRuntime that begins
// with a _Py_DebugOffsets block, an interpreter, thread states, data-stack chunks, frames and code
// objects) goes to the real decoders through Session::run("py-bt-all", "--json"), exactly as a
// debugger front end would hand over a core file.
//
// The image has no debuginfo, so the layout comes from the block, topped up for what the block lacks
// from the built-in table of the same minor (3.14.10, 3.15.2), or, for a version newer than every
// table, from the newest one. The structs are laid out as in real 3.14.6 / 3.15.0rc1 x86-64 GIL
// builds (synthetic_image.cpp), so a field the decoders take from a table is only right if it did
// not move.
//
// The code objects are real: co_code and co_linetable of the module below, compiled by CPython 3.13.0
// (3.14 and 3.15 keep the 3.11+ location table format). Each frame stops at one instruction, and its
// expected line is what CPython reports there (code.co_lines()):
//
//    1  import threading
//    2
//    3
//    4  def make_adder(k):
//    5      def add(v):
//    6          return v + k
//    7      return add
//    8
//    9
//   10  def inner(n):
//   11      total = 0
//   12      for i in range(n):
//   13          total += i
//   14      add = make_adder(total)
//   15      return add(n)
//   16
//   17
//   18  def middle(x):
//   19      y = x * 2
//   20      return inner(y)
//   21
//   22
//   23  class Worker:
//   24      def run(self):
//   25          for item in self.items():
//   26              self.handle(item)
//   27
//   28      def items(self):
//   29          yield 1
//   30          yield 2
//   31
//   32      def handle(self, item):
//   33          return middle(item)
//   34
//   35
//   36  def main():
//   37      w = Worker()
//   38      t = threading.Thread(target=w.run)
//   39      t.start()
//   40      return sorted([3, 1, 2], key=lambda v: middle(v))
//   41
//   42
//   43  main()
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "commands/session.hpp"
#include "synthetic_image.hpp"

namespace pyxray {
namespace {

using namespace synthetic;
using json = nlohmann::json;

constexpr const char* kFile = "/srv/app/main.py";

// One function of the module above, and the instruction its frame is stopped at.
struct Fn {
  const char* name;
  const char* qualname;
  int first_line;
  uint32_t flags;
  int argcount;
  int first_traceable;  // index of the first RESUME: _co_firsttraceable
  int offset;           // byte offset of the frame's instruction (instr_ptr - _PyCode_CODE)
  std::vector<uint8_t> code;
  std::vector<uint8_t> linetable;
};

// clang-format off
// Generated once with CPython 3.13.0 (compile(SRC, "/srv/app/main.py", "exec"), dis, co_lines()).
// offset 58: the CALL of main() -> line 43
const Fn kModule = {"<module>", "<module>", 1, 0x0, 0, 0, 58,
    {0x95, 0x00, 0x53, 0x00, 0x53, 0x01, 0x4b, 0x00, 0x72, 0x00, 0x53, 0x02, 0x1a, 0x00, 0x72, 0x01, 0x53,
     0x03, 0x1a, 0x00, 0x72, 0x02, 0x53, 0x04, 0x1a, 0x00, 0x72, 0x03, 0x18, 0x00, 0x22, 0x00, 0x53, 0x05,
     0x1a, 0x00, 0x53, 0x06, 0x35, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x72, 0x04, 0x53, 0x07, 0x1a,
     0x00, 0x72, 0x05, 0x5c, 0x05, 0x22, 0x00, 0x35, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20, 0x00,
     0x67, 0x01},
    {0xf0, 0x03, 0x01, 0x01, 0x01, 0xdb, 0x00, 0x10, 0xf2, 0x06, 0x03, 0x01, 0x0f, 0xf2, 0x0c, 0x05, 0x01,
     0x12, 0xf2, 0x10, 0x02, 0x01, 0x14, 0xf7, 0x0a, 0x0a, 0x01, 0x1c, 0xf1, 0x00, 0x0a, 0x01, 0x1c, 0xf2,
     0x1a, 0x04, 0x01, 0x36, 0xf1, 0x0e, 0x00, 0x01, 0x05, 0x85, 0x06}};
// offset 0: COPY_FREE_VARS, before RESUME -> line None (no location)
const Fn kAdd = {"add", "make_adder.<locals>.add", 5, 0x13, 1, 1, 0,
    {0x3e, 0x01, 0x95, 0x00, 0x55, 0x00, 0x54, 0x01, 0x2d, 0x00, 0x00, 0x00, 0x24, 0x00},
    {0xf8, 0x80, 0x00, 0xd8, 0x0f, 0x10, 0x90, 0x31, 0x89, 0x75, 0x88, 0x0c}};
// offset 78: the CALL of add(n) -> line 15
const Fn kInner = {"inner", "inner", 10, 0x3, 1, 0, 78,
    {0x95, 0x00, 0x53, 0x01, 0x6e, 0x01, 0x5b, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x55,
     0x00, 0x35, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x13, 0x00, 0x48, 0x07, 0x00, 0x00, 0x6e, 0x02,
     0x58, 0x12, 0x2d, 0x0d, 0x00, 0x00, 0x6e, 0x01, 0x4d, 0x09, 0x00, 0x00, 0x0b, 0x00, 0x20, 0x00, 0x5b,
     0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x55, 0x01, 0x35, 0x01, 0x00, 0x00, 0x00, 0x00,
     0x00, 0x00, 0x6e, 0x03, 0x55, 0x03, 0x22, 0x00, 0x55, 0x00, 0x35, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
     0x00, 0x24, 0x00},
    {0x80, 0x00, 0xd8, 0x0c, 0x0d, 0x80, 0x45, 0xdc, 0x0d, 0x12, 0x90, 0x31, 0x8e, 0x58, 0x88, 0x01, 0xd8,
     0x08, 0x0d, 0x89, 0x0a, 0x8a, 0x05, 0xf1, 0x03, 0x00, 0x0e, 0x16, 0xe4, 0x0a, 0x14, 0x90, 0x55, 0xd3,
     0x0a, 0x1b, 0x80, 0x43, 0xd9, 0x0b, 0x0e, 0x88, 0x71, 0x8b, 0x36, 0x80, 0x4d}};
// offset 24: the CALL of inner(y) -> line 20
const Fn kMiddle = {"middle", "middle", 18, 0x3, 1, 0, 24,
    {0x95, 0x00, 0x55, 0x00, 0x53, 0x01, 0x2d, 0x05, 0x00, 0x00, 0x6e, 0x01, 0x5b, 0x01, 0x00, 0x00, 0x00,
     0x00, 0x00, 0x00, 0x00, 0x00, 0x55, 0x01, 0x35, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x24, 0x00},
    {0x80, 0x00, 0xd8, 0x08, 0x09, 0x88, 0x41, 0x89, 0x05, 0x80, 0x41, 0xdc, 0x0b, 0x10, 0x90, 0x11, 0x8b,
     0x38, 0x80, 0x4f}};
// offset 34: FOR_ITER of `for item in self.items()` -> line 25
const Fn kRun = {"run", "Worker.run", 24, 0x3, 1, 0, 34,
    {0x95, 0x00, 0x55, 0x00, 0x52, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
     0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x35, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x13, 0x00,
     0x48, 0x14, 0x00, 0x00, 0x6e, 0x01, 0x55, 0x00, 0x52, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
     0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x55, 0x01, 0x35, 0x01, 0x00, 0x00,
     0x00, 0x00, 0x00, 0x00, 0x20, 0x00, 0x4d, 0x16, 0x00, 0x00, 0x0b, 0x00, 0x20, 0x00, 0x67, 0x00},
    {0x80, 0x00, 0xd8, 0x14, 0x18, 0x97, 0x4a, 0x91, 0x4a, 0x96, 0x4c, 0x88, 0x44, 0xd8, 0x0c, 0x10, 0x8f,
     0x4b, 0x89, 0x4b, 0x98, 0x04, 0xd6, 0x0c, 0x1d, 0xf2, 0x03, 0x00, 0x15, 0x21}};
// offset 2: POP_TOP after RETURN_GENERATOR, before RESUME -> line 28
const Fn kItems = {"items", "Worker.items", 28, 0x23, 1, 2, 2,
    {0x23, 0x00, 0x20, 0x00, 0x95, 0x00, 0x53, 0x01, 0x76, 0x00, 0x95, 0x05, 0x20, 0x00, 0x53, 0x02, 0x76,
     0x00, 0x95, 0x05, 0x20, 0x00, 0x67, 0x00, 0x37, 0x03, 0x66, 0x01},
    {0xe9, 0x00, 0x80, 0x00, 0xd8, 0x0e, 0x0f, 0x8a, 0x07, 0xd8, 0x0e, 0x0f, 0x8b, 0x07, 0xf9}};
// offset 14: the CALL of middle(v) -> line 40
const Fn kLambda = {"<lambda>", "main.<locals>.<lambda>", 40, 0x13, 1, 0, 14,
    {0x95, 0x00, 0x5b, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x55, 0x00, 0x35, 0x01, 0x00,
     0x00, 0x00, 0x00, 0x00, 0x00, 0x24, 0x00},
    {0x80, 0x00, 0xac, 0x36, 0xb0, 0x21, 0xac, 0x39}};
// offset 136: the CALL of sorted(...) -> line 40
const Fn kMain = {"main", "main", 36, 0x3, 0, 0, 136,
    {0x95, 0x00, 0x5b, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x35, 0x00, 0x00, 0x00, 0x00,
     0x00, 0x00, 0x00, 0x6e, 0x00, 0x5b, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x52, 0x04,
     0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
     0x00, 0x22, 0x00, 0x55, 0x00, 0x52, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
     0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x53, 0x01, 0x39, 0x01, 0x6e, 0x01, 0x55, 0x01, 0x52,
     0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
     0x00, 0x00, 0x35, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20, 0x00, 0x5b, 0x0b, 0x00, 0x00, 0x00,
     0x00, 0x00, 0x00, 0x00, 0x00, 0x2f, 0x00, 0x53, 0x02, 0x51, 0x01, 0x53, 0x03, 0x1a, 0x00, 0x53, 0x04,
     0x39, 0x02, 0x24, 0x00},
    {0x80, 0x00, 0xdc, 0x08, 0x0e, 0x8b, 0x08, 0x80, 0x41, 0xdc, 0x08, 0x11, 0xd7, 0x08, 0x18, 0xd2, 0x08,
     0x18, 0xa0, 0x01, 0xa7, 0x05, 0xa1, 0x05, 0xd1, 0x08, 0x26, 0x80, 0x41, 0xd8, 0x04, 0x05, 0x87, 0x47,
     0x81, 0x47, 0x84, 0x49, 0xdc, 0x0b, 0x11, 0x92, 0x29, 0xd1, 0x21, 0x34, 0xd1, 0x0b, 0x35, 0xd0, 0x04,
     0x35}};
// clang-format on

// ---- the process image

// Where things live, as in a real process: libpython's .rodata and .data (_PyRuntime, with the main
// interpreter inside it), the heap, one mmap'd chunk per thread for its data stack, and the C stack.
constexpr uint64_t kLibpythonBase = 0x7f3a5d000000;
constexpr uint64_t kRodataAddr = 0x7f3a5d5e2000;
constexpr uint64_t kPyVersionAddr = kRodataAddr + 0xa40;
constexpr uint64_t kTrampolineAddr = kRodataAddr + 0xb00;  // the instructions entry frames point at
constexpr uint64_t kRuntimeAddr = 0x7f3a5d6c1000;
constexpr uint64_t kMainInterpOffset = 0x10000;  // _PyRuntime._main_interpreter; the exact place is irrelevant
constexpr uint64_t kHeapAddr = 0x55d01e000000;
constexpr std::size_t kHeapSize = 1 << 20;
constexpr uint64_t kChunkBase = 0x7f3a5c000000;  // one data-stack chunk per thread, 64 KiB apart
constexpr std::size_t kChunkSize = 16384;        // _PY_DATA_STACK_CHUNK_SIZE
constexpr uint64_t kCStackAddr = 0x7ffc8a000000;
constexpr std::size_t kCStackSize = 1 << 16;
// _PyStackChunk {previous, size, top, data[]}: unchanged since 3.11.
constexpr uint64_t kChunkSizeField = 8, kChunkTopField = 16, kChunkData = 24;

constexpr int kPid = 4242;
constexpr int64_t kMainTid = 4242;
constexpr int64_t kWorkerTid = 4251;
constexpr uint64_t kMainIdent = 0x7f3a5d9e8740;  // pthread_t
constexpr uint64_t kWorkerIdent = 0x7f3a5b7ff6c0;

// enum _frameowner (3.14: pycore_interpframe_structs.h). 3.15 has no FRAME_OWNED_BY_CSTACK.
constexpr uint8_t kOwnedByThread = 0;
constexpr uint8_t kOwnedByGenerator = 1;
constexpr uint8_t kOwnedByInterpreter = 3;
constexpr uint8_t kOwnedByCStack = 4;

// _PyStackRef on GIL builds: a counted reference is the bare pointer; Py_TAG_REFCNT (bit 0) marks
// one that is not counted (immortal objects, deferred references).
constexpr uint64_t kTagRefcnt = 1;

// A heap pointer, as pymalloc leaves behind in memory it hands out again: what a 3.14 GIL build's
// never-initialised _co_unique_id may hold. Its low 32 bits read as an int are 506,411,584.
constexpr uint64_t kStaleHeapPointer = 0x000055d01e2f3a40;

Bytes to_bytes(const std::vector<uint8_t>& v) {
  Bytes b(v.size());
  std::memcpy(b.data(), v.data(), v.size());
  return b;
}

struct Thread {
  uint64_t tstate = 0;
  uint64_t chunk = 0;       // its data stack
  uint64_t stack_top = 0;   // next free byte in the chunk
  uint64_t top = 0;         // innermost frame (3.15: the base frame until a frame is pushed)
  uint64_t base_frame = 0;  // 3.15: the sentinel embedded in _PyThreadStateImpl
};

// One CPython 3.14 or 3.15 process: the runtime, its main interpreter, threads and their frames.
// Frames are pushed from the outermost in, as calls make them.
class SyntheticPython {
 public:
  explicit SyntheticPython(uint32_t version_hex)
      : minor_((version_hex >> 16) & 0xff),
        members_(minor_ == 14 ? debug_offsets_314() : debug_offsets_315()),
        image_(std::make_shared<Image>()),
        heap_(*image_, kHeapAddr, kHeapSize, object_layout(members_)) {
    image_->map(kRodataAddr, 4096);
    image_->write_u32(kPyVersionAddr, version_hex);
    image_->map(kCStackAddr, kCStackSize);
    cstack_top_ = kCStackAddr + kCStackSize;

    image_->map(kRuntimeAddr, m("runtime_state.size"));
    image_->write(kRuntimeAddr, debug_offsets_block(version_hex, false, members_));
    interp_ = kRuntimeAddr + kMainInterpOffset;
    if (kMainInterpOffset + m("interpreter_state.size") > m("runtime_state.size")) throw std::logic_error("layout");
    image_->write_ptr(kRuntimeAddr + m("runtime_state.interpreters_head"), interp_);
    // interp->ceval.gil = &interp->_gil; the GIL is free (locked = 0).
    image_->write_ptr(interp_ + m("interpreter_state.ceval_gil"), interp_ + m("interpreter_state.gil_runtime_state"));

    none_ = heap_.object(heap_.type("NoneType"), 16);
    code_type_ = heap_.type("code");
  }

  Image& image() { return *image_; }
  uint64_t runtime() const { return kRuntimeAddr; }
  uint64_t m(std::string_view name) const { return member(members_, name); }

  // The 3.15 sentinel's owner (set before adding threads). CPython 3.15's enum ends at
  // FRAME_OWNED_BY_INTERPRETER (3); the decoders must hide the sentinel whichever it carries.
  uint8_t base_frame_owner = kOwnedByInterpreter;
  // What the sentinel's f_executable holds: None, or (to show that its owner alone hides it) a code
  // object whose first instruction it seems to be at.
  const Fn* base_frame_runs = nullptr;
  // What lies in every code object's _co_unique_id (set before pushing frames).
  uint64_t unique_id_slot = 0;

  // A thread state at the head of the interpreter's list, as PyThreadState_New puts it (newest first).
  Thread& add_thread(int64_t native_id, uint64_t ident, std::string os_name) {
    auto t = std::make_unique<Thread>();
    uint64_t tstate_size = m("thread_state.size");
    // _PyThreadStateImpl: the PyThreadState, then (3.15) the embedded base frame, then private fields.
    t->tstate = heap_.alloc(tstate_size + m("interpreter_frame.size") + 512);
    image().write_ptr(t->tstate + m("thread_state.interp"), interp_);
    image().write_u64(t->tstate + m("thread_state.thread_id"), ident);
    image().write_u64(t->tstate + m("thread_state.native_thread_id"), static_cast<uint64_t>(native_id));
    uint64_t head_slot = interp_ + m("interpreter_state.threads_head");
    uint64_t old_head = image().read_u64(head_slot);
    image().write_ptr(t->tstate + m("thread_state.next"), old_head);
    if (old_head) image().write_ptr(old_head + m("thread_state.prev"), t->tstate);
    image().write_ptr(head_slot, t->tstate);

    t->chunk = kChunkBase + threads_.size() * 0x10000;
    image().map(t->chunk, kChunkSize);
    image().write_u64(t->chunk + kChunkSizeField, kChunkSize);
    t->stack_top = t->chunk + kChunkData;
    image().write_ptr(t->tstate + m("thread_state.datastack_chunk"), t->chunk);

    if (minor_ >= 15) {
      t->base_frame = t->tstate + tstate_size;
      uint64_t executable = base_frame_runs ? code_for(*base_frame_runs) : none_;
      image().write_ptr(t->base_frame + m("interpreter_frame.executable"), executable | kTagRefcnt);
      if (base_frame_runs) {
        image().write_ptr(t->base_frame + m("interpreter_frame.instr_ptr"),
                          heap_.code_start(executable) + base_frame_runs->offset);
      }
      image().write_u8(t->base_frame + m("interpreter_frame.owner"), base_frame_owner);
      image().write_ptr(t->tstate + m("thread_state.base_frame"), t->base_frame);
      make_top(*t, t->base_frame);
    }
    natives_.push_back({native_id, ident, std::move(os_name)});
    threads_.push_back(std::move(t));
    return *threads_.back();
  }

  // The GIL's state: interp->_gil.locked and .last_holder.
  void set_gil(bool locked, uint64_t last_holder) {
    image().write_u32(interp_ + m("interpreter_state.gil_runtime_state_locked"), locked ? 1 : 0);
    image().write_ptr(interp_ + m("interpreter_state.gil_runtime_state_holder"), last_holder);
  }

  // A function's frame on the thread's data stack, stopped at fn.offset.
  uint64_t push_python(Thread& t, const Fn& fn, uint64_t tag = kTagRefcnt) {
    uint64_t code = code_for(fn);
    return push(t, data_stack_frame(t), code | tag, heap_.code_start(code) + fn.offset, kOwnedByThread);
  }

  // A frame pushed for a call that has not reached RESUME yet: CPython hides it (_PyFrame_IsIncomplete).
  uint64_t push_not_started(Thread& t, const Fn& fn) {
    uint64_t code = code_for(fn);
    return push(t, data_stack_frame(t), code | kTagRefcnt, heap_.code_start(code), kOwnedByThread);
  }

  // A running generator: its frame lives in the generator object (gi_iframe) and is owned by it.
  uint64_t push_generator(Thread& t, const Fn& fn) {
    uint64_t code = code_for(fn);
    uint64_t gen = heap_.object(heap_.type("generator"), m("gen_object.size") + 8 * kLocalsSlots);
    image().write_ptr(gen + m("gen_object.gi_name"), heap_.str(fn.name));
    image().write_u8(gen + m("gen_object.gi_frame_state"), minor_ == 14 ? 0 : 4);  // FRAME_EXECUTING
    return push(t, gen + m("gen_object.gi_iframe"), code | kTagRefcnt, heap_.code_start(code) + fn.offset,
                kOwnedByGenerator);
  }

  // A frame on the C stack. An entry into the interpreter from C runs None; with `runs`, it runs that
  // function at its instruction instead, so that only its owner can hide it.
  uint64_t push_entry(Thread& t, uint8_t owner, const Fn* runs = nullptr) {
    cstack_top_ -= 256;
    if (!runs) return push(t, cstack_top_, none_ | kTagRefcnt, kTrampolineAddr, owner);
    uint64_t code = code_for(*runs);
    return push(t, cstack_top_, code | kTagRefcnt, heap_.code_start(code) + runs->offset, owner);
  }

  // A frame whose f_executable is not a code object: CPython hides it (PyCode_Check fails).
  uint64_t push_non_code(Thread& t) {
    return push(t, data_stack_frame(t), none_ | kTagRefcnt, kTrampolineAddr, kOwnedByThread);
  }

  void set_previous(uint64_t frame, uint64_t previous) {
    image().write_ptr(frame + m("interpreter_frame.previous"), previous);
  }

  // What a front end attached to this process would give the core.
  std::unique_ptr<Session> session(std::optional<int64_t> selected = std::nullopt) {
    auto target = std::make_unique<SyntheticTarget>(image_, kPid);
    target->add_symbol("_PyRuntime", kRuntimeAddr);
    target->add_symbol("Py_Version", kPyVersionAddr);
    target->add_symbol("PyCode_Type", code_type_);
    std::string v = fmt::format("3.{}", minor_);
    target->add_loaded_object({fmt::format("/usr/local/bin/python{}", v), 0x55d01c400000, std::nullopt});
    target->add_loaded_object({fmt::format("/usr/local/lib/libpython{}.so.1.0", v), kLibpythonBase, std::nullopt});
    for (const auto& n : natives_) target->add_thread(n);
    if (selected) target->select_thread(*selected);
    return std::make_unique<Session>(std::move(target));
  }

 private:
  static constexpr uint64_t kLocalsSlots = 6;

  uint64_t code_for(const Fn& fn) {
    if (auto it = codes_.find(fn.qualname); it != codes_.end()) return it->second;
    CodeSpec spec{fn.name,
                  fn.qualname,
                  kFile,
                  fn.first_line,
                  fn.flags,
                  fn.argcount,
                  fn.first_traceable,
                  to_bytes(fn.code),
                  to_bytes(fn.linetable),
                  unique_id_slot};
    return codes_[fn.qualname] = heap_.code(spec);
  }

  uint64_t data_stack_frame(Thread& t) {
    uint64_t frame = t.stack_top;
    t.stack_top += m("interpreter_frame.localsplus") + 8 * kLocalsSlots;
    image().write_u64(t.chunk + kChunkTopField, (t.stack_top - t.chunk - kChunkData) / 8);
    return frame;
  }

  void make_top(Thread& t, uint64_t frame) {
    t.top = frame;
    image().write_ptr(t.tstate + m("thread_state.current_frame"), frame);
  }

  uint64_t push(Thread& t, uint64_t frame, uint64_t executable, uint64_t instr_ptr, uint8_t owner) {
    image().write_ptr(frame + m("interpreter_frame.executable"), executable);
    image().write_ptr(frame + m("interpreter_frame.previous"), t.top);
    image().write_ptr(frame + m("interpreter_frame.instr_ptr"), instr_ptr);
    image().write_ptr(frame + m("interpreter_frame.stackpointer"), frame + m("interpreter_frame.localsplus"));
    image().write_u8(frame + m("interpreter_frame.owner"), owner);
    make_top(t, frame);
    return frame;
  }

  int minor_;
  DebugOffsetsMembers members_;
  std::shared_ptr<Image> image_;
  ObjectBuilder heap_;
  uint64_t interp_ = 0;
  uint64_t none_ = 0;
  uint64_t code_type_ = 0;
  uint64_t cstack_top_ = 0;
  std::map<std::string, uint64_t> codes_;
  std::vector<std::unique_ptr<Thread>> threads_;
  std::vector<NativeThread> natives_;
};

// ---- the scene: both threads of the module above, paused mid-run

struct Scene {
  Thread* main = nullptr;
  Thread* worker = nullptr;
};

// The worker has just entered its generator from Worker.run().
Thread& add_worker(SyntheticPython& py) {
  Thread& w = py.add_thread(kWorkerTid, kWorkerIdent, "Thread-1 (run)");
  py.push_entry(w, kOwnedByInterpreter);
  py.push_python(w, kRun, /*tag=*/0);  // a counted reference: the bare pointer
  // Stopped before its RESUME, like add() below, but a generator's frame is never incomplete.
  py.push_generator(w, kItems);
  return w;
}

// The main thread is in main() -> sorted() -> the key lambda -> middle() -> inner(), which has just
// pushed a frame for add(). Between the Python frames are the frames Python never shows, each hidden
// by one rule only: the C-stack entry frames of each entry into the interpreter (owner 3; they run
// None), a 3.14 FRAME_OWNED_BY_CSTACK frame (owner 4; it runs real code, so only its owner hides it),
// a frame running something that is not a code object, and add()'s frame, which has not reached
// RESUME.
Scene build_scene(SyntheticPython& py, int minor) {
  Scene s;
  s.main = &py.add_thread(kMainTid, kMainIdent, "python3");
  Thread& m = *s.main;
  py.push_entry(m, kOwnedByInterpreter);
  py.push_python(m, kModule, /*tag=*/0);
  py.push_python(m, kMain);
  py.push_entry(m, kOwnedByInterpreter);  // sorted() calls the key from C
  py.push_python(m, kLambda);
  py.push_non_code(m);
  py.push_python(m, kMiddle);
  if (minor == 14) py.push_entry(m, kOwnedByCStack, &kMiddle);
  py.push_python(m, kInner);
  py.push_not_started(m, kAdd);
  s.worker = &add_worker(py);
  py.set_gil(false, m.tstate);  // released by the main thread, held by nobody
  return s;
}

// ---- expected output

struct Expect {
  const char* function;
  const char* qualname;
  std::optional<int> line;
};

// The expected output is compared with summary(): what this test pins down of py-bt-all's JSON, so
// that fields added to it later do not break the test. Exact on the process (pid, version, process
// warnings) and, per thread, on its ids, name, GIL flag, warning and every Python frame's function,
// qualname, file and line, in order.
json summary(const json& report) {
  json threads = json::array();
  for (const auto& t : report.at("threads")) {
    json frames = json::array();
    for (const auto& f : t.at("frames")) {
      if (f.at("kind") != "python") continue;  // native frames (mixed stacks) are not this test's subject
      frames.push_back({{"function", f.at("function")},
                        {"qualname", f.at("qualname")},
                        {"file", f.at("file")},
                        {"line", f.at("line")}});
    }
    threads.push_back({{"native_id", t.at("native_id")},
                       {"thread_id", t.at("thread_id")},
                       {"name", t.at("name")},
                       {"holds_gil", t.at("holds_gil")},
                       {"frames", std::move(frames)},
                       {"warning", t.value("warning", json())}});
  }
  return {{"pid", report.at("pid")},
          {"python", report.at("python")},
          {"warnings", report.value("warnings", json())},
          {"threads", std::move(threads)}};
}

json frames_json(const std::vector<Expect>& frames) {
  json out = json::array();
  for (const auto& f : frames) {
    out.push_back({{"function", f.function},
                   {"qualname", f.qualname},
                   {"file", kFile},
                   {"line", f.line ? json(*f.line) : json(nullptr)}});
  }
  return out;
}

json thread_json(int64_t native_id, uint64_t ident, const char* name, const std::vector<Expect>& frames,
                 std::optional<std::string> warning = std::nullopt) {
  return {{"native_id", native_id},
          {"thread_id", ident},
          {"name", name},
          {"holds_gil", false},
          {"frames", frames_json(frames)},
          {"warning", warning ? json(*warning) : json()}};
}

json report_json(const char* python, std::vector<json> threads) {
  return {{"pid", kPid}, {"python", python}, {"warnings", json()}, {"threads", std::move(threads)}};
}

const std::vector<Expect> kMainFrames = {
    {"inner", "inner", 15}, {"middle", "middle", 20},     {"<lambda>", "main.<locals>.<lambda>", 40},
    {"main", "main", 40},   {"<module>", "<module>", 43},
};
const std::vector<Expect> kWorkerFrames = {
    {"items", "Worker.items", 28},
    {"run", "Worker.run", 25},
};

// Runs `command --json` and returns summary() of its output.
json run_json(Session& session, const char* command = "py-bt-all") {
  CommandResult r = session.run(command, "--json");
  EXPECT_TRUE(r.ok) << r.output;
  if (!r.ok) return json();
  return summary(json::parse(r.output));
}

// Each argument is evaluated once (a command must not run twice).
#define EXPECT_JSON_EQ(actual, expected)                                                                     \
  do {                                                                                                       \
    const json actual_ = (actual);                                                                           \
    const json expected_ = (expected);                                                                       \
    EXPECT_EQ(actual_, expected_) << "actual:\n" << actual_.dump(2) << "\nexpected:\n" << expected_.dump(2); \
  } while (0)

// ---- 3.14

TEST(Synthetic314, PyBtAllShowsEveryThreadsPythonFrames) {
  SyntheticPython py(0x030e00f0);  // 3.14.0
  build_scene(py, 14);
  auto session = py.session();
  json expected = report_json("3.14.0", {thread_json(kMainTid, kMainIdent, "python3", kMainFrames),
                                         thread_json(kWorkerTid, kWorkerIdent, "Thread-1 (run)", kWorkerFrames)});
  EXPECT_JSON_EQ(run_json(*session), expected);
  // A second command re-reads the target (the cache is dropped) and must agree.
  EXPECT_JSON_EQ(run_json(*session), expected);
}

TEST(Synthetic314, PyBtAndTextOutput) {
  SyntheticPython py(0x030e06f0);  // 3.14.6
  build_scene(py, 14);
  auto session = py.session(kWorkerTid);
  EXPECT_JSON_EQ(run_json(*session, "py-bt"),
                 report_json("3.14.6", {thread_json(kWorkerTid, kWorkerIdent, "Thread-1 (run)", kWorkerFrames)}));

  // The text face shows the same stacks: compare its thread headers and File lines.
  CommandResult text = session->run("py-bt-all", "");
  ASSERT_TRUE(text.ok) << text.output;
  std::vector<std::string> shown;
  std::size_t start = 0;
  for (std::size_t end; (end = text.output.find('\n', start)) != std::string::npos; start = end + 1) {
    std::string line = text.output.substr(start, end - start);
    if (line.rfind("Thread ", 0) == 0 || line.rfind("  File ", 0) == 0) shown.push_back(line);
  }
  EXPECT_EQ(shown, (std::vector<std::string>{
                       "Thread 4242 \"python3\" (idle) [ident 0x7f3a5d9e8740]",
                       "  File \"/srv/app/main.py\", line 15, in inner",
                       "  File \"/srv/app/main.py\", line 20, in middle",
                       "  File \"/srv/app/main.py\", line 40, in <lambda>",
                       "  File \"/srv/app/main.py\", line 40, in main",
                       "  File \"/srv/app/main.py\", line 43, in <module>",
                       "Thread 4251 \"Thread-1 (run)\" (idle) [ident 0x7f3a5b7ff6c0]",
                       "  File \"/srv/app/main.py\", line 28, in items",
                       "  File \"/srv/app/main.py\", line 25, in run",
                   }))
      << text.output;
}

// _co_firsttraceable is not in _Py_DebugOffsets, so it comes from the 3.13 table (184). 3.14 put
// _co_unique_id there and moved _co_firsttraceable to 192; on GIL builds _co_unique_id is never
// written, so whatever the allocator left in it decides which frames count as "not started".
TEST(Synthetic314, FirstTraceableIsReadFromThe314CodeLayout) {
  SyntheticPython py(0x030e00f0);
  py.unique_id_slot = kStaleHeapPointer;
  build_scene(py, 14);
  auto session = py.session();
  EXPECT_JSON_EQ(run_json(*session),
                 report_json("3.14.0", {thread_json(kMainTid, kMainIdent, "python3", kMainFrames),
                                        thread_json(kWorkerTid, kWorkerIdent, "Thread-1 (run)", kWorkerFrames)}));
}

// A block that fails validation is not used, and py-layout says why. 3.14 has a built-in table, so
// the layout comes from it alone: this image was laid out as the block says, not as the table, so
// py-bt-all finds no thread and says so in one warning; it never reads with the corrupt block.
TEST(Synthetic314, CorruptBlockIsNotUsedAndSaysWhy) {
  auto expect_refused = [](SyntheticPython& py, const std::string& problem) {
    auto session = py.session();
    CommandResult layout = session->run("py-layout", "");
    EXPECT_TRUE(layout.ok) << layout.output;
    EXPECT_NE(layout.output.find(fmt::format(
                  "_Py_DebugOffsets not used: _Py_DebugOffsets at {:#x} failed validation: {}", py.runtime(), problem)),
              std::string::npos)
        << layout.output;
    EXPECT_NE(layout.output.find("layouts from built-in table 3.14"), std::string::npos) << layout.output;
    CommandResult bt = session->run("py-bt-all", "");
    EXPECT_EQ(bt.output.find("internal error"), std::string::npos) << bt.output;
  };
  {
    SyntheticPython py(0x030e00f0);
    build_scene(py, 14);
    py.image().write_u8(py.runtime() + 7, 'X');
    expect_refused(py, "cookie is \"xdebugpX\", expected \"xdebugpy\"");
  }
  {
    // The block of another Python than Py_Version says: the image is not what it claims to be.
    SyntheticPython py(0x030e00f0);
    build_scene(py, 14);
    py.image().write_u64(py.runtime() + 8, 0x030d05f0);
    expect_refused(py, "version 3.13.5 does not match the target's Python 3.14");
  }
}

TEST(Synthetic314, FrameChainLoopEndsWithWarning) {
  SyntheticPython py(0x030e00f0);
  Thread& t = py.add_thread(kMainTid, kMainIdent, "python3");
  py.push_entry(t, kOwnedByInterpreter);
  uint64_t module = py.push_python(t, kModule);
  py.push_python(t, kMain);
  py.push_python(t, kMiddle);
  uint64_t inner = py.push_python(t, kInner);
  py.set_previous(module, inner);  // <module> "returns" to inner(): the chain never ends
  auto session = py.session();
  EXPECT_JSON_EQ(
      run_json(*session),
      report_json(
          "3.14.0",
          {thread_json(
              kMainTid, kMainIdent, "python3",
              {{"inner", "inner", 15}, {"middle", "middle", 20}, {"main", "main", 40}, {"<module>", "<module>", 43}},
              fmt::format("the frame chain loops at {:#x}", inner))}));
}

TEST(Synthetic314, UnreadableFrameGivesPartialStackWithWarning) {
  SyntheticPython py(0x030e00f0);
  Thread& t = py.add_thread(kMainTid, kMainIdent, "python3");
  py.push_entry(t, kOwnedByInterpreter);
  py.push_python(t, kModule);
  py.push_python(t, kMain);
  uint64_t middle = py.push_python(t, kMiddle);
  py.push_python(t, kInner);
  add_worker(py);
  // The frame below middle() is in memory the core does not contain (an unmapped page).
  constexpr uint64_t kLost = 0x7f3a5c0fe000;
  ASSERT_FALSE(py.image().is_mapped(kLost));
  py.set_previous(middle, kLost);
  auto session = py.session();
  EXPECT_JSON_EQ(run_json(*session),
                 report_json("3.14.0", {thread_json(kMainTid, kMainIdent, "python3",
                                                    {{"inner", "inner", 15}, {"middle", "middle", 20}},
                                                    fmt::format("cannot read target memory at {:#x}", kLost + 8)),
                                        thread_json(kWorkerTid, kWorkerIdent, "Thread-1 (run)", kWorkerFrames)}));
}

// ---- 3.15

TEST(Synthetic315, PyBtAllHidesTheBaseFrameSentinel) {
  for (uint8_t owner : {kOwnedByInterpreter, kOwnedByCStack}) {
    SCOPED_TRACE(fmt::format("base frame owner {}", owner));
    SyntheticPython py(0x030f00f0);  // 3.15.0
    py.base_frame_owner = owner;
    py.base_frame_runs = &kModule;  // only the owner can hide it
    Scene s = build_scene(py, 15);
    // The outermost entry frame sits on the sentinel, which ends the chain.
    ASSERT_NE(s.main->base_frame, 0u);
    ASSERT_EQ(py.image().read_u64(s.main->tstate + py.m("thread_state.base_frame")), s.main->base_frame);
    auto session = py.session();
    EXPECT_JSON_EQ(run_json(*session),
                   report_json("3.15.0", {thread_json(kMainTid, kMainIdent, "python3", kMainFrames),
                                          thread_json(kWorkerTid, kWorkerIdent, "Thread-1 (run)", kWorkerFrames)}));
  }
}

TEST(Synthetic315, FirstTraceableIsReadFromThe315CodeLayout) {
  SyntheticPython py(0x030f00f0);
  py.unique_id_slot = kStaleHeapPointer;
  build_scene(py, 15);
  auto session = py.session();
  EXPECT_JSON_EQ(run_json(*session),
                 report_json("3.15.0", {thread_json(kMainTid, kMainIdent, "python3", kMainFrames),
                                        thread_json(kWorkerTid, kWorkerIdent, "Thread-1 (run)", kWorkerFrames)}));
}

// ---- versions newer than pyxray's tables

// A CPython newer than every version pyxray knows (a 3.16 laid out as 3.15 here) is decoded through
// its own _Py_DebugOffsets, and the first command says once which table fills in and that answers
// may be incomplete.
TEST(SyntheticNewer, NewerMinorIsDecodedThroughItsDebugOffsetsAndSaysSo) {
  SyntheticPython py(0x031000f0);  // 3.16.0
  build_scene(py, 16);
  auto session = py.session();
  CommandResult first = session->run("py-bt-all", "--json");
  ASSERT_TRUE(first.ok) << first.output;
  EXPECT_JSON_EQ(summary(json::parse(first.output)),
                 report_json("3.16.0", {thread_json(kMainTid, kMainIdent, "python3", kMainFrames),
                                        thread_json(kWorkerTid, kWorkerIdent, "Thread-1 (run)", kWorkerFrames)}));
  EXPECT_EQ(first.note,
            "pyxray: note: CPython 3.16.0 is newer than every version pyxray knows: its struct offsets come from its "
            "_Py_DebugOffsets, the ones missing there from the CPython 3.15.2 table, and it is decoded by 3.15's "
            "rules; answers may be incomplete");
  CommandResult second = session->run("py-bt-all", "");
  EXPECT_TRUE(second.ok) << second.output;
  EXPECT_EQ(second.note, "") << "the note is given once";
}

// A later micro release of a known minor: the table of the newest known micro fills in, and it is
// said once. An older micro (3.15.0, below the 3.15.2 table) or the table's own release says nothing.
TEST(SyntheticNewer, NewerMicroSaysWhichTableFillsIn) {
  {
    SyntheticPython py(0x030f09f0);  // 3.15.9
    build_scene(py, 15);
    auto session = py.session();
    CommandResult r = session->run("py-bt-all", "--json");
    ASSERT_TRUE(r.ok) << r.output;
    EXPECT_EQ(r.note,
              "pyxray: note: CPython 3.15.9 is newer than pyxray's tables: the struct offsets "
              "_Py_DebugOffsets lacks come from the CPython 3.15.2 table");
  }
  for (uint32_t hex : {0x030f00f0u, 0x030f02f0u}) {
    SyntheticPython py(hex);
    build_scene(py, 15);
    auto session = py.session();
    CommandResult r = session->run("py-bt-all", "--json");
    ASSERT_TRUE(r.ok) << r.output;
    EXPECT_EQ(r.note, "") << std::hex << hex;
  }
}

// Newer than known and its block unusable: refused in one line that says why, rather than guessed.
TEST(SyntheticNewer, NewerMinorWithoutUsableDebugOffsetsIsRefused) {
  SyntheticPython py(0x031000f0);
  build_scene(py, 16);
  py.image().write_cstring(kRuntimeAddr, "xdebugp");  // the cookie is wrong ("xdebugpy")
  auto session = py.session();
  CommandResult r = session->run("py-bt-all", "");
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.output.rfind("pyxray: CPython 3.16.0 is newer than every version pyxray knows (2.7, 3.6–3.15) and its "
                           "_Py_DebugOffsets cannot be used (",
                           0),
            0u)
      << r.output;
}

}  // namespace
}  // namespace pyxray
