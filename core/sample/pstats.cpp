#include "sample/pstats.hpp"

#include <algorithm>
#include <map>
#include <tuple>
#include <utility>
#include <vector>

#include "sample/marshal_writer.hpp"

namespace pyxray {
namespace {

using Key = std::tuple<std::string, int, std::string>;  // (file, first line, function), as pstats keys them

Key key_of(const FrameInfo& f) {
  if (f.file.empty()) return {"~", 0, f.function};
  return {f.file, std::max(f.first_line, 0), f.function};
}

struct Counts {
  uint64_t calls = 0;  // samples with it on the stack (or with the edge in it)
  uint64_t own = 0;    // samples with it innermost (with this caller right below it)
};

void write_key(MarshalWriter& m, const Key& k) {
  m.tuple(3);
  m.text(std::get<0>(k));
  m.integer(std::get<1>(k));
  m.text(std::get<2>(k));
}

}  // namespace

std::string pstats_file(const StackAggregate& agg, const FrameTable& frames, double interval_seconds) {
  // Frames are keyed as pstats keys functions: a function's lines together, and two frames whose keys
  // are equal are one entry (a dict cannot hold a key twice).
  std::map<Key, uint32_t> index;
  std::vector<uint32_t> function_of(frames.size(), UINT32_MAX);
  auto function = [&](uint32_t frame) {
    if (function_of[frame] == UINT32_MAX)
      function_of[frame] =
          index.try_emplace(key_of(frames.at(frame)), static_cast<uint32_t>(index.size())).first->second;
    return function_of[frame];
  };
  std::vector<Counts> functions;
  std::map<std::pair<uint32_t, uint32_t>, Counts> edges;  // (callee, caller)

  const auto& nodes = agg.nodes();
  std::vector<uint32_t> stack, seen;
  std::vector<std::pair<uint32_t, uint32_t>> seen_edges;
  for (uint32_t n = 0; n < nodes.size(); ++n) {
    if (nodes[n].self == 0 || nodes[n].parent == StackAggregate::kNone) continue;
    const uint64_t count = nodes[n].self;
    stack.clear();
    for (uint32_t f : agg.path(n)) stack.push_back(function(f));  // root first
    if (functions.size() < index.size()) functions.resize(index.size());
    // Each function and each edge once per sample, however often the stack recurses through it.
    seen.assign(stack.begin(), stack.end());
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
    for (uint32_t f : seen) functions[f].calls += count;
    seen_edges.clear();
    for (std::size_t i = 1; i < stack.size(); ++i) seen_edges.emplace_back(stack[i], stack[i - 1]);
    std::sort(seen_edges.begin(), seen_edges.end());
    seen_edges.erase(std::unique(seen_edges.begin(), seen_edges.end()), seen_edges.end());
    for (const auto& e : seen_edges) edges[e].calls += count;
    functions[stack.back()].own += count;
    if (stack.size() > 1) edges[{stack.back(), stack[stack.size() - 2]}].own += count;
  }

  std::vector<const Key*> keys(index.size());
  for (const auto& [k, i] : index) keys[i] = &k;
  // The callers of each function, in key order: equal profiles give equal files.
  std::vector<std::vector<std::pair<uint32_t, Counts>>> callers(index.size());
  for (const auto& [e, c] : edges) callers[e.first].emplace_back(e.second, c);

  MarshalWriter m;
  m.dict_begin();
  if (index.empty()) {
    // pstats.Stats refuses an empty dict ("Cannot create or construct"): one entry that says why.
    write_key(m, {"~", 0, "<no samples>"});
    m.tuple(5);
    m.integer(0);
    m.integer(0);
    m.real(0);
    m.real(0);
    m.dict_begin();
    m.dict_end();
  }
  for (const auto& [k, i] : index) {
    const Counts& c = functions[i];
    const auto calls = static_cast<int64_t>(c.calls);
    write_key(m, k);
    m.tuple(5);
    m.integer(calls);  // primitive calls
    m.integer(calls);  // all calls
    m.real(static_cast<double>(c.own) * interval_seconds);
    m.real(static_cast<double>(c.calls) * interval_seconds);
    m.dict_begin();
    for (const auto& [caller, ec] : callers[i]) {
      write_key(m, *keys[caller]);
      m.tuple(4);  // per caller, cProfile's order: (nc, cc, tottime, cumtime)
      m.integer(static_cast<int64_t>(ec.calls));
      m.integer(static_cast<int64_t>(ec.calls));
      m.real(static_cast<double>(ec.own) * interval_seconds);
      m.real(static_cast<double>(ec.calls) * interval_seconds);
    }
    m.dict_end();
  }
  m.dict_end();
  return m.bytes();
}

}  // namespace pyxray
