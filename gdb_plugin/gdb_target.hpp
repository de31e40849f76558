#pragma once

#include <map>
#include <optional>
#include <string>

#include <pybind11/pybind11.h>

#include "target/target.hpp"

namespace pyxray::gdb {

class GdbTarget final : public Target {
 public:
  int pid() const override;
  bool is_live_local() const override;
  std::size_t read_memory(uint64_t addr, std::span<std::byte> out) override;
  std::optional<uint64_t> symbol_address(std::string_view name) override;
  std::optional<int64_t> type_offset(std::string_view type, std::string_view field) override;
  std::vector<NativeThread> threads() override;
  std::optional<int64_t> selected_thread() override;
  std::vector<LoadedObject> loaded_objects() override;
  std::vector<std::string> missing_objects() override;
  std::vector<std::string> mapped_files() override;
  std::vector<MappedRange> mapped_ranges() override;
  std::optional<std::vector<NativeFrame>> native_frames(int64_t tid, std::size_t max_frames) override;
  std::optional<BlockedSyscall> blocked_syscall(int64_t tid) override;
  std::optional<std::string> core_file() override;
  Expected<RunOutcome> run_while(const std::function<void(const std::atomic<bool>& stop_requested)>& work) override;

  // Symbols and types belong to the loaded program; forget them when it changes.
  void forget_program() {
    symbols_.clear();
    offsets_.clear();
  }

 private:
  std::map<std::string, std::optional<uint64_t>> symbols_;
  std::map<std::string, std::optional<int64_t>> offsets_;
};

}  // namespace pyxray::gdb
