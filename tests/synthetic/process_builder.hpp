// A whole CPython process made of bytes, for any version from 3.9 to 3.14: the runtime, the main
// interpreter, thread states with their frames (frame objects, or interpreter frames on data stacks
// and C stacks), code objects with real line tables, the builtin types, sys.modules with a threading
// module that names the threads, objects of every common kind, the GC lists and, optionally,
// pymalloc arenas holding the small objects.
//
// Every struct is written with the offsets the core itself uses for that version (its built-in
// table, the 3.13 _Py_DebugOffsets block of a real build, the synthetic 3.14 block): the builder asks
// PythonProcess::open for the layout of a bare runtime first, then writes everything with it. So the
// decoders see a consistent process, and the fuzzers (tests/fuzz) mutate real layouts.
//
// Every byte the builder writes is recorded: windows() lists those ranges (merged), which is what a
// fuzzer mutates while the address space layout stays fixed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "layout/layout.hpp"
#include "layout/version.hpp"
#include "layout/version_traits.hpp"
#include "synthetic_image.hpp"

namespace pyxray::synthetic {

// The builds the builder knows (PY_VERSION_HEX of the build whose layout it uses).
inline constexpr uint32_t kPy39 = 0x030912f0, kPy310 = 0x030a0df0, kPy311 = 0x030b07f0, kPy312 = 0x030c01f0,
                          kPy313 = 0x030d00f0, kPy314 = 0x030e0af0;
inline constexpr uint32_t kBuilderVersions[] = {kPy39, kPy310, kPy311, kPy312, kPy313, kPy314};
// The versions whose free-threaded builds the builder knows.
inline constexpr uint32_t kFreeThreadedVersions[] = {kPy313, kPy314};

struct Window {
  uint64_t addr = 0;
  std::size_t size = 0;
};

struct BuilderOptions {
  // Small objects (<= 512 bytes with their GC head) in pymalloc pools of one arena, as CPython
  // allocates them; otherwise everything is in malloc'd heap memory.
  bool pymalloc = false;
  // A free-threaded build (3.13t, 3.14t): a _Py_DebugOffsets block with free_threaded set
  // (free_threaded_block.hpp), 32-byte object headers with biased reference counts, no PyGC_Head
  // (so no GC lists), the managed dict at obj[-1], and on 3.14t a co_tlbc array on every code object.
  bool free_threaded = false;
};

// A function's code: its names, where it is, and the source line of each code unit (-1: no line).
struct FuncSpec {
  std::string name;
  std::string qualname;
  std::string filename = "/srv/app/main.py";
  int first_line = 1;
  bool optimized = true;   // CO_OPTIMIZED | CO_NEWLOCALS: fast locals (a function)
  bool generator = false;  // CO_GENERATOR
  int argcount = 0;
  std::vector<std::string> varnames;  // arguments first
  std::vector<int> lines;             // one per code unit
};

class ProcessBuilder {
 public:
  explicit ProcessBuilder(uint32_t version_hex, BuilderOptions options = {});
  ~ProcessBuilder();
  ProcessBuilder(const ProcessBuilder&) = delete;
  ProcessBuilder& operator=(const ProcessBuilder&) = delete;

  const PyVersion& version() const { return version_; }
  const Layout& layout() const { return L_; }
  std::shared_ptr<Image> image() const { return image_; }

  // --- raw writes, recorded as windows
  void put(uint64_t addr, std::span<const std::byte> data);
  void put_u8(uint64_t addr, uint8_t v);
  void put_u32(uint64_t addr, uint32_t v);
  void put_u64(uint64_t addr, uint64_t v);
  void put_cstring(uint64_t addr, std::string_view s);
  // A field at a layout offset; a field the layout lacks (kAbsent) is not written.
  void field_u64(uint64_t base, int64_t off, uint64_t v);
  void field_u32(uint64_t base, int64_t off, uint32_t v);
  void field_u8(uint64_t base, int64_t off, uint8_t v);

  // --- objects
  uint64_t none() const { return none_; }
  uint64_t true_obj() const { return true_; }
  uint64_t false_obj() const { return false_; }
  uint64_t builtin_type(std::string_view tp_name) const;  // "int", "dict", ...
  uint64_t str(std::string_view text);                    // UTF-8 in; compact ASCII, UCS-1, UCS-2 or UCS-4
  uint64_t bytes(std::string_view data);
  uint64_t integer(int64_t v);
  uint64_t floating(double v);
  uint64_t tuple(const std::vector<uint64_t>& items);
  uint64_t list(const std::vector<uint64_t>& items);
  uint64_t dict(const std::vector<std::pair<uint64_t, uint64_t>>& items);
  uint64_t dict_str(const std::vector<std::pair<std::string, uint64_t>>& items);
  uint64_t set(const std::vector<uint64_t>& items, bool frozen = false);
  uint64_t cell(uint64_t value);
  // A class statement's result (a heap type deriving from object) and an instance with a __dict__.
  uint64_t heap_class(std::string_view name, std::string_view module);
  uint64_t instance(uint64_t cls, const std::vector<std::pair<std::string, uint64_t>>& attrs);
  uint64_t module(std::string_view name, uint64_t dict = 0);
  uint64_t function(uint64_t code, std::string_view name, std::string_view qualname, uint64_t globals);
  uint64_t code(const FuncSpec& spec);
  uint64_t code_start(uint64_t code) const;  // 3.11+: the first code unit
  // 3.14t: the start of thread-local bytecode copy `index` of `code` (0: code_start), made on first use.
  uint64_t bytecode_copy(uint64_t code, int32_t index);

  // --- threads and frames (pushed from the outermost in)
  int add_thread(int64_t native_id, uint64_t ident, std::string os_name, std::string threading_name);
  // A frame of `code` stopped at code unit `instr`, with its fast locals (or, for a module or class
  // body, `locals_dict`) and globals.
  uint64_t push_frame(int thread, uint64_t code, int instr, const std::vector<uint64_t>& fast_locals, uint64_t globals,
                      uint64_t locals_dict = 0);
  // 3.11+: a running generator's frame, embedded in its generator object (returned).
  uint64_t push_generator(int thread, uint64_t code, int instr, const std::vector<uint64_t>& fast_locals,
                          uint64_t globals);
  void set_gil_holder(int thread);
  // Free-threaded builds: whether the thread is attached (running Python) rather than detached.
  void set_attached(int thread, bool attached);
  // 3.14t: the thread's frames pushed from now on run its copy `index` of their code's bytecode.
  void set_tlbc_index(int thread, int32_t index);
  uint64_t thread_state(int thread) const;
  int64_t native_id(int thread) const;

  // The modules: sys.modules holds __main__ (whose dict is `main_globals`), threading (naming the
  // threads) and sys; interp->sysdict has sys.version. Call once, after the threads exist.
  void finish_modules(uint64_t main_globals);

  // What a front end attached to this process gives the core, over `image` (default: this one).
  std::unique_ptr<SyntheticTarget> target(std::shared_ptr<const Image> image = nullptr,
                                          std::optional<int64_t> selected = std::nullopt) const;

  // Every range written, merged when closer than 16 bytes, in address order.
  std::vector<Window> windows() const;

  // Objects worth printing (repr tests and fuzzers): one of each kind built so far.
  const std::vector<uint64_t>& notable() const { return notable_; }

 private:
  struct Thread;
  struct Pool;
  uint64_t heap_alloc(std::size_t size, std::size_t align = 16);
  // An object header: refcount (biased, free-threaded), type.
  void put_header(uint64_t obj, uint64_t type, bool immortal);
  // Memory for an object with `pre` bytes before it (GC head, managed words); returns the object.
  uint64_t alloc_object(std::size_t pre, std::size_t size);
  uint64_t new_object(uint64_t type, std::size_t size, bool gc, std::size_t managed = 0);
  uint64_t new_var_object(uint64_t type, std::size_t size, int64_t ob_size, bool gc);
  void gc_track(uint64_t obj);
  uint64_t static_type(std::string_view tp_name, std::string_view symbol, int64_t basicsize, int64_t itemsize,
                       uint64_t flags, uint64_t base);
  uint64_t static_alloc(std::size_t size, std::size_t align = 16);
  uint64_t cstring(std::string_view s);
  uint64_t text_address();  // a fake function address in libpython's text
  std::vector<std::byte> line_table(const FuncSpec& spec) const;
  void setup_runtime();
  void setup_types();
  void setup_allocator();
  void link_gc_lists();
  uint64_t interp_frame(Thread& t, uint64_t where, uint64_t code, int instr, uint8_t owner,
                        const std::vector<uint64_t>& fast_locals, uint64_t globals, uint64_t locals_dict);
  uint64_t data_stack_alloc(Thread& t, std::size_t size);
  int code_units(uint64_t code) const;

  uint32_t version_hex_;
  PyVersion version_;
  int minor_;
  BuilderOptions options_;
  Layout L_;
  const VersionTraits* traits_ = nullptr;
  int64_t grow_ = 0;  // bytes a free-threaded object header adds (16), else 0
  std::shared_ptr<Image> image_;
  std::vector<std::pair<uint64_t, uint64_t>> written_;  // [start, end)
  std::map<std::string, uint64_t, std::less<>> symbols_;
  std::vector<LoadedObject> objects_;

  uint64_t heap_next_ = 0, heap_end_ = 0;
  uint64_t static_next_ = 0, static_end_ = 0;
  uint64_t rodata_next_ = 0, rodata_end_ = 0;
  uint64_t text_next_ = 0;
  uint64_t cstack_top_ = 0;
  uint64_t runtime_ = 0, interp_ = 0, gil_ = 0;

  std::map<std::string, uint64_t, std::less<>> types_;  // builtin types by tp_name
  uint64_t object_repr_ = 0;
  uint64_t none_ = 0, true_ = 0, false_ = 0, set_dummy_ = 0;
  std::vector<uint64_t> gc_objects_;
  std::map<uint64_t, int> code_units_;

  // pymalloc: one arena, pools carved in order, one pool per size class in use
  uint64_t arena_ = 0, arena_vector_ = 0, obmalloc_state_ = 0;
  std::vector<std::unique_ptr<Pool>> pools_;
  uint64_t pools_carved_ = 0;

  std::vector<std::unique_ptr<Thread>> threads_;
  std::vector<uint64_t> notable_;
};

}  // namespace pyxray::synthetic
