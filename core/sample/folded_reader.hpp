// Folded stacks read back (what py-sample -o X.folded, py-spy and FlameGraph's stackcollapse
// scripts write): one stack a line, root first, frames joined by ';', then whitespace and the count.
// A line is what FlameGraph's difffolded.pl accepts, `^(.*)\s+?(\d+(?:\.\d*)?)$`: the count is the
// last field, so frames may hold spaces ("part_a (work.py:12)"). Empty lines and '#' comments are
// skipped; anything else that does not end in a count makes the file not a profile.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/expected.hpp"

namespace pyxray {

struct FoldedStack {
  std::vector<std::string> frames;  // root first
  double count = 0;
};

struct FoldedProfile {
  std::string name;                 // the file as the user named it
  std::vector<FoldedStack> stacks;  // in file order; a stack given twice is two entries
  double total = 0;                 // the counts summed
};

// `text` as a folded profile called `name`; the error is one line naming the file and the line.
Expected<FoldedProfile> parse_folded(std::string_view text, const std::string& name);
// The file at `path`, read and parsed.
Expected<FoldedProfile> read_folded_file(const std::string& path);

// A frame's text split the way py-sample writes it, "function (file:line)", "function (file)" or
// "function": the function and the file, without the line.
struct FoldedFunction {
  std::string function;
  std::string file;
};
FoldedFunction function_of_frame(std::string_view frame);

}  // namespace pyxray
