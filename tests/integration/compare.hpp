// Comparing pyxray's output with the workload's ground truth. Each function returns readable
// difference lines (thread, frame index, expected vs got); empty means the output matches.
#pragma once

#include "workload.hpp"

#include <sys/types.h>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace pyxray::it {

// `py-bt-all --json` against the ground truth. `tasks` are the process's kernel thread ids: the
// reported native_ids must be exactly those (on every version, even when the workload cannot
// report its own native ids).
std::vector<std::string> compare_bt_all_json(const GroundTruth& truth, const nlohmann::json& got,
                                             const std::vector<pid_t>& tasks);

// Text `py-bt-all`: for each thread a header line naming it (and its native id when known),
// followed by exactly its `File "<file>", line <N>, in <function>` lines, innermost first.
// The spinner's frames move, so only its header is required (it still delimits its neighbours).
std::vector<std::string> compare_bt_all_text(const GroundTruth& truth, const std::string& out);

// Text `py-bt` for the selected thread: the whole output holds exactly `selected`'s File lines,
// its header, and no other thread's header.
std::vector<std::string> compare_bt_text_one(const GroundTruth& truth, const ThreadTruth& selected,
                                             const std::string& out);

// A possibly partial `py-bt-all --json` (from a damaged core) against the ground truth: every
// thread it lists must be one of the real threads (by thread_id), and each thread's frames an
// in-order subsequence of that thread's real frames. Threads and frames may be missing; none may be
// invented, changed or reordered, and a thread with frames missing must carry a "warning". A frame
// whose line is null (unknown) matches on function and file.
// A thread whose state could not be read (thread_id null or 0, no frames, a "warning") is allowed.
std::vector<std::string> check_partial_bt_all_json(const GroundTruth& truth, const nlohmann::json& got);

// A layout key of a struct of asyncio's extension module (_asyncio, up to 3.14): debuginfo knows it
// only once the process has imported asyncio.
inline bool is_asyncio_module_key(const std::string& key) {
  for (const char* type : {"TaskObj:", "FutureObj:", "futureiterobject:", "TaskWakeupMethWrapper:"})
    if (key.rfind(type, 0) == 0) return true;
  return false;
}

// Joins difference lines for a failure message, keeping at most `max_lines`.
std::string join_diffs(const std::vector<std::string>& diffs, std::size_t max_lines = 300);

}  // namespace pyxray::it
