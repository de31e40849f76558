// py-tasks' output: every asyncio task and greenlet with its stack, as text, as an await tree, and as JSON.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "tasks/task_model.hpp"

namespace pyxray {

class SourceLines;

nlohmann::ordered_json tasks_json(const TasksReport& report);
std::string tasks_text(const TasksReport& report, SourceLines& sources);
// The await tree, like `python -m asyncio pstree`: each task under the task awaiting it, roots first,
// then the deadlocks (tasks awaiting each other in a cycle, which no root reaches).
std::string tasks_tree(const TasksReport& report);
// One frame as "function (file:line)", for trees and status lines.
std::string frame_brief(const PyFrame& f);

}  // namespace pyxray
