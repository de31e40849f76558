// One CPython process as the decoders see it: the target, cached memory, the build's version and
// struct layouts, and where its runtime lives. Opening it is where "is this Python at all?" is decided.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "base/expected.hpp"
#include "interp/eval_loop_code.hpp"
#include "layout/layout.hpp"
#include "layout/version.hpp"
#include "layout/version_traits.hpp"
#include "target/elf_file.hpp"
#include "target/memory.hpp"
#include "target/target.hpp"

namespace pyxray {

// What each layout source says about this target, kept for py-layout and its cross-checks.
struct LayoutSources {
  std::map<std::string, int64_t> debuginfo;
  std::map<std::string, int64_t> debug_offsets;
  std::optional<std::string> debug_offsets_error;  // a block that failed validation
  bool free_threaded = false;
  std::map<std::string, int64_t> table;
  std::string table_version;
  std::optional<PyVersion> table_release;  // the release the table describes
  // The version was given by the user (py-layout --python): only the table was read, and this is
  // what detection said, if it said anything.
  bool forced = false;
  std::optional<std::string> detected_version;
};

struct OpenOptions {
  // Decode as this version with pyxray's built-in table for it alone: detection, debuginfo types and
  // _Py_DebugOffsets are ignored, because the user says they are wrong or missing.
  std::optional<PyVersion> forced_version;
};

class PythonProcess {
 public:
  static Expected<std::unique_ptr<PythonProcess>> open(Target& target, const OpenOptions& options = {});

  Target& target() { return target_; }
  Memory& mem() { return *mem_; }
  const Layout& layout() const { return layout_; }
  const LayoutSources& layout_sources() const { return sources_; }
  const PyVersion& version() const { return version_; }
  // The per-version facts of this build (free-threaded or not).
  const VersionTraits& traits() const { return traits_for(version_, sources_.free_threaded); }

  // _PyRuntime (3.7+), or 0 for 2.7/3.6, which only have the interp_head static.
  uint64_t runtime_addr() const { return runtime_; }
  uint64_t interp_head_addr() const { return interp_head_; }
  // Address of a type object exported by libpython (PyCode_Type, ...), 0 if unknown.
  uint64_t type_addr(const std::string& symbol);

  // Where the evaluation loop's unnamed code lies (eval_loop_code.hpp), found once.
  const EvalLoopCode& eval_loop_code() {
    if (!eval_loop_) eval_loop_ = locate_eval_loop(*this);
    return *eval_loop_;
  }

  // One line for the user, once, when a release other than the process's own supplied struct offsets
  // or rules (a version newer than every table); nullopt otherwise.
  const std::optional<std::string>& note() const { return note_; }

  // Start of a command: the target may have run, so cached memory is stale.
  void begin_command() { mem_->clear(); }

 private:
  PythonProcess(Target& target) : target_(target) {}
  Expected<void> find_anchor();
  Expected<void> detect_version();
  Expected<void> resolve_layout();
  void refine_micro_version();
  std::optional<std::string> table_note() const;
  LayoutSources read_layout_sources();

  Target& target_;
  std::unique_ptr<Memory> mem_;
  Layout layout_;
  LayoutSources sources_;
  PyVersion version_;
  bool forced_ = false;
  std::optional<std::string> detected_;  // when forced_
  std::optional<std::string> note_;
  uint64_t runtime_ = 0;
  uint64_t interp_head_ = 0;
  std::unique_ptr<ElfFile> scan_object_;  // set when interp_head must be found by scanning its data
  uint64_t scan_bias_ = 0;
  std::string libpython_;  // path of the object holding the interpreter ("" for a static build)
  std::unordered_map<std::string, uint64_t> type_addrs_;
  std::optional<EvalLoopCode> eval_loop_;
};

}  // namespace pyxray
