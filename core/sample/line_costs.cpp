#include "sample/line_costs.hpp"

#include <algorithm>
#include <tuple>
#include <utility>

namespace pyxray {
namespace {

constexpr uint32_t kNoIndex = UINT32_MAX;

// What a line is keyed by while counting; the strings live in the frame table.
using LineKey = std::pair<const std::string*, int>;
struct LineKeyLess {
  bool operator()(const LineKey& a, const LineKey& b) const {
    return std::tie(*a.first, a.second) < std::tie(*b.first, b.second);
  }
};
using FunctionKey = std::tuple<std::string, std::string, int>;  // file, function, first line

// Per line while counting: its samples by the function they ran in, to name the line after the one
// with most (a generator expression or lambda shares its line with the code around it).
struct Counting {
  LineCost cost;
  std::map<std::string, std::pair<uint64_t, uint64_t>> by_function;  // own, total
};

}  // namespace

LineCosts line_costs(const StackAggregate& agg, const FrameTable& frames) {
  LineCosts out;
  out.samples = agg.samples();

  // Frame ids map to dense line, function and file indexes once, so the walk below does no string
  // work per stack.
  std::vector<Counting> lines;
  std::vector<FunctionLines> functions;
  std::vector<FileCost> files;
  std::vector<uint32_t> line_of(frames.size(), kNoIndex), function_of(frames.size(), kNoIndex),
      file_of(frames.size(), kNoIndex);
  {
    std::map<LineKey, uint32_t, LineKeyLess> line_index;
    std::map<FunctionKey, uint32_t> function_index;
    std::map<std::string, uint32_t> file_index;
    for (uint32_t id = 0; id < frames.size(); ++id) {
      const FrameInfo& f = frames.at(id);
      if (f.native || f.line < 0) continue;
      auto [li, new_line] = line_index.try_emplace({&f.file, f.line}, static_cast<uint32_t>(lines.size()));
      if (new_line) {
        lines.emplace_back();
        lines.back().cost.file = f.file;
        lines.back().cost.line = f.line;
      }
      line_of[id] = li->second;
      auto [fi, new_function] =
          function_index.try_emplace({f.file, f.function, f.first_line}, static_cast<uint32_t>(functions.size()));
      if (new_function) functions.push_back({f.function, f.file, f.first_line, 0, 0, {}});
      function_of[id] = fi->second;
      auto [ff, new_file] = file_index.try_emplace(f.file, static_cast<uint32_t>(files.size()));
      if (new_file) files.push_back({f.file, 0, 0});
      file_of[id] = ff->second;
    }
  }

  // Each node with samples is one distinct stack seen `self` times: its frames, innermost first,
  // are the path up to the thread's root. Marks (the node last counted) keep a line, function or
  // file that recurs on one stack from counting twice.
  const auto& nodes = agg.nodes();
  std::vector<uint32_t> line_mark(lines.size(), kNoIndex), file_mark(files.size(), kNoIndex),
      function_mark(functions.size(), kNoIndex);
  std::map<std::pair<uint32_t, int>, uint32_t> function_line_mark;
  for (uint32_t i = 0; i < nodes.size(); ++i) {
    const uint64_t self = nodes[i].self;
    if (self == 0 || nodes[i].parent == StackAggregate::kNone) continue;
    bool innermost_python = true, under_native = false;
    for (uint32_t n = i; nodes[n].parent != StackAggregate::kNone; n = nodes[n].parent) {
      const uint32_t id = nodes[n].frame;
      const FrameInfo& f = frames.at(id);
      if (f.native) {
        if (innermost_python) under_native = true;
        continue;
      }
      const uint32_t li = line_of[id];
      if (innermost_python) {
        innermost_python = false;
        if (li != kNoIndex) {
          Counting& c = lines[li];
          c.cost.own += self;
          if (under_native) c.cost.own_in_native += self;
          c.by_function[f.function].first += self;
          FunctionLines& fn = functions[function_of[id]];
          fn.own += self;
          fn.lines[f.line].own += self;
          files[file_of[id]].own += self;
        }
      }
      if (li == kNoIndex) continue;
      if (line_mark[li] != i) {
        line_mark[li] = i;
        lines[li].cost.total += self;
        lines[li].by_function[f.function].second += self;
      }
      const uint32_t fi = function_of[id];
      if (function_mark[fi] != i) {
        function_mark[fi] = i;
        functions[fi].total += self;
      }
      if (auto& m = function_line_mark[{fi, f.line}]; m != i + 1) {  // +1: 0 is "never"
        m = i + 1;
        functions[fi].lines[f.line].total += self;
      }
      if (file_mark[file_of[id]] != i) {
        file_mark[file_of[id]] = i;
        files[file_of[id]].total += self;
      }
    }
  }

  for (auto& c : lines) {
    if (c.cost.total == 0) continue;
    const std::pair<uint64_t, uint64_t>* best = nullptr;
    for (const auto& [name, counts] : c.by_function) {
      if (!best || counts > *best) {
        best = &counts;
        c.cost.function = name;
      }
    }
    out.lines.push_back(std::move(c.cost));
  }
  std::sort(out.lines.begin(), out.lines.end(), [](const LineCost& a, const LineCost& b) {
    return std::tie(b.own, b.total, a.file, a.line) < std::tie(a.own, a.total, b.file, b.line);
  });
  for (auto& f : functions)
    if (f.total) out.functions.push_back(std::move(f));
  std::stable_sort(out.functions.begin(), out.functions.end(), [](const FunctionLines& a, const FunctionLines& b) {
    return std::tie(a.own, a.total) > std::tie(b.own, b.total);
  });
  for (auto& f : files)
    if (f.total) out.files.push_back(std::move(f));
  std::stable_sort(out.files.begin(), out.files.end(), [](const FileCost& a, const FileCost& b) {
    return std::tie(a.own, a.total) > std::tie(b.own, b.total);
  });
  return out;
}

}  // namespace pyxray
