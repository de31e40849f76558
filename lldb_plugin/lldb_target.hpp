// The LLDB adapter: the core's Target interface over LLDB's SB API, for one target and process.
// A front-end session is recreated when the selected target or process changes, so an LLDBTarget
// never outlives the process it describes and may cache what cannot change while it lives.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lldb/API/SBModule.h"
#include "lldb/API/SBProcess.h"
#include "lldb/API/SBTarget.h"
#include "lldb/API/SBType.h"

#include "target/core_notes.hpp"
#include "target/target.hpp"

namespace pyxray::lldb_plugin {

class LLDBTarget final : public pyxray::Target {
public:
  LLDBTarget(lldb::SBTarget Target, lldb::SBProcess Process);

  int pid() const override;
  bool is_live_local() const override;
  std::size_t read_memory(uint64_t addr, std::span<std::byte> out) override;
  std::optional<uint64_t> symbol_address(std::string_view name) override;
  std::optional<int64_t> type_offset(std::string_view type, std::string_view field) override;
  std::vector<NativeThread> threads() override;
  std::optional<int64_t> selected_thread() override;
  std::vector<LoadedObject> loaded_objects() override;
  std::optional<std::vector<NativeFrame>> native_frames(int64_t tid, std::size_t max_frames) override;
  std::optional<BlockedSyscall> blocked_syscall(int64_t tid) override;
  std::optional<std::string> core_file() override;
  std::vector<std::string> missing_objects() override;
  Expected<RunOutcome> run_while(const std::function<void(const std::atomic<bool> &)> &work) override;

  // Process plugins that open a dump rather than a running process.
  static bool isPostMortemPlugin(const std::string &Name);

private:
  // Reads what the process (or, for a core, the module files) holds at Addr; returns the count.
  std::size_t readSome(uint64_t Addr, std::byte *Out, std::size_t Size);
  std::optional<uint64_t> lookupSymbol(const std::string &Name);
  std::optional<int64_t> lookupOffset(const std::string &Type, const std::string &Field);
  lldb::SBType findType(const std::string &Name);
  // The modules that hold CPython's own types: libpython, then the executable (a static build).
  const std::vector<lldb::SBModule> &pythonModules();

  mutable lldb::SBTarget TheTarget;
  mutable lldb::SBProcess TheProcess;
  std::map<std::string, std::optional<uint64_t>> Symbols;
  std::map<std::string, std::optional<int64_t>> Offsets;
  std::map<std::string, lldb::SBType> Types;
  std::optional<std::vector<lldb::SBModule>> PythonModules;
  // The core file's notes and path, for a core: found once (nullopt inside when not found).
  struct CoreFile {
    std::string Path;
    CoreNotes Notes;
  };
  const CoreFile *coreFile();
  std::optional<std::optional<CoreFile>> TheCoreFile;
  // pthread ids found in memory, for the stop they were found in.
  uint32_t PthreadStopId = 0;
  std::optional<std::map<int64_t, uint64_t>> PthreadIds;
};

} // namespace pyxray::lldb_plugin
