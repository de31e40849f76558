// The target's files as the target sees them. A live process may run in another mount namespace (a
// container): its /usr/bin/python3.14 is not the host's, and the debugger may have loaded no module
// for it at all (LLDB 16 looks the paths up on the host). The core then reads the files itself,
// through /proc/PID/root, as py-spy does, never from a host file of the same path.
//
// ProcessFilesTarget is the decorator Session wraps around every front end's Target: it forwards
// everything and, for live local targets, adds what the debugger lacks: symbols from the .dynsym of
// every object the process maps, and the loaded objects from /proc/PID/maps.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "target/target.hpp"

namespace pyxray {

struct ElfFile;

// Where the core opens a file the target names: for a live local target an absolute path under
// /proc/PID/root and a relative one under /proc/PID/cwd; a core's paths as given.
std::string target_file_path(Target& target, const std::string& path);

// One object the process maps, with the load bias of its file.
struct MappedObject {
  std::string path;                    // as the process names it
  uint64_t start = 0;                  // its mapping at file offset 0
  std::shared_ptr<const ElfFile> elf;  // nullptr when unreadable or not ELF
  uint64_t bias = 0;
};

// The objects of a live process (from /proc/PID/maps; the executable first), with the ELF files of
// those `parse` accepts read through /proc/PID/root, or /proc/PID/map_files when that fails.
std::vector<MappedObject> mapped_objects(int pid, const std::function<bool(const MappedObject&)>& parse);

class ProcessFilesTarget : public Target {
 public:
  explicit ProcessFilesTarget(std::unique_ptr<Target> inner) : inner_(std::move(inner)) {}

  int pid() const override { return inner_->pid(); }
  bool is_live_local() const override { return inner_->is_live_local(); }
  std::size_t read_memory(uint64_t addr, std::span<std::byte> out) override { return inner_->read_memory(addr, out); }
  std::optional<uint64_t> symbol_address(std::string_view name) override;
  std::optional<int64_t> type_offset(std::string_view type, std::string_view field) override {
    return inner_->type_offset(type, field);
  }
  std::vector<NativeThread> threads() override { return inner_->threads(); }
  std::optional<int64_t> selected_thread() override { return inner_->selected_thread(); }
  std::vector<LoadedObject> loaded_objects() override;
  std::optional<std::vector<NativeFrame>> native_frames(int64_t tid, std::size_t max_frames) override {
    return inner_->native_frames(tid, max_frames);
  }
  std::optional<BlockedSyscall> blocked_syscall(int64_t tid) override { return inner_->blocked_syscall(tid); }
  std::optional<std::string> core_file() override { return inner_->core_file(); }
  std::vector<std::string> missing_objects() override { return inner_->missing_objects(); }
  std::vector<std::string> mapped_files() override { return inner_->mapped_files(); }
  std::vector<MappedRange> mapped_ranges() override { return inner_->mapped_ranges(); }
  Expected<RunOutcome> run_while(const std::function<void(const std::atomic<bool>& stop_requested)>& work) override {
    return inner_->run_while(work);
  }

  Target& inner() { return *inner_; }
  // One line for the user, once the core had to read the executable itself because the debugger has
  // no module for it; nullopt otherwise.
  std::optional<std::string> note();

 private:
  bool fallback_allowed() const { return inner_->is_live_local() && inner_->pid() > 0; }
  const std::vector<MappedObject>& objects();  // parsed once per process
  bool debugger_lacks_executable();
  bool debugger_has(const MappedObject& o) const;  // by path or by load address

  std::unique_ptr<Target> inner_;
  int objects_pid_ = -1;
  std::vector<MappedObject> objects_;
  std::map<std::string, std::optional<uint64_t>, std::less<>> symbols_;
  std::set<std::string> debugger_paths_;  // what the debugger loaded, by path (no "target:")
  std::set<uint64_t> debugger_bases_;     // and by load address
  bool used_fallback_ = false;
};

}  // namespace pyxray
