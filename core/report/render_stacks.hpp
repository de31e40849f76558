// py-bt-all's two faces: a traceback-like text for people and a stable JSON shape for scripts.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "report/thread_report.hpp"

namespace pyxray {

class SourceLines;

nlohmann::ordered_json stacks_json(const ProcessReport& report);
std::string stacks_text(const ProcessReport& report, SourceLines& sources);
// One Python frame as a traceback shows it: its `File "...", line N, in f` line, then its source line
// when the file is readable. py-bt-all's and py-tasks' text alike.
void traceback_frame_text(std::string& out, const PyFrame& f, SourceLines& sources);

}  // namespace pyxray
