// The one way pyxray turns JSON into text, for every command's --json and every JSON file it writes:
// compact, one document per line, and pure ASCII (non-ASCII text as \u escapes). ASCII because the
// text passes through the debugger's host charset: gdb under LANG=C cannot print UTF-8, and the
// escapes it would substitute are not valid JSON. Invalid UTF-8 from the target is replaced (U+FFFD).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace pyxray {

// The document and a newline.
std::string json_line(const nlohmann::json& j);
std::string json_line(const nlohmann::ordered_json& j);
// The document alone, for embedding in a larger text (speedscope's hand-assembled file).
std::string json_text(const nlohmann::json& j);

}  // namespace pyxray
