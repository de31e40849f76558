#include "sample/speedscope.hpp"

#include <unordered_map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/json_text.hpp"

namespace pyxray {
std::string speedscope_json(const StackAggregate& agg, const FrameTable& frames, const SpeedscopeInfo& info) {
  const auto& nodes = agg.nodes();
  // Only frames that are in some sample, numbered in order of first use.
  std::unordered_map<uint32_t, uint32_t> index;
  nlohmann::json shared_frames = nlohmann::json::array();
  auto frame_index = [&](uint32_t id) {
    auto [it, added] = index.try_emplace(id, static_cast<uint32_t>(index.size()));
    if (added) {
      const FrameInfo& f = frames.at(id);
      nlohmann::json jf = {{"name", f.function}};
      if (!f.file.empty()) jf["file"] = f.file;
      if (f.line >= 0) jf["line"] = f.line;
      shared_frames.push_back(std::move(jf));
    }
    return it->second;
  };
  // A leaf node's stack, root first, as JSON text, made once per node.
  std::unordered_map<uint32_t, std::string> stacks;
  auto stack_of = [&](uint32_t leaf) -> const std::string& {
    auto it = stacks.find(leaf);
    if (it != stacks.end()) return it->second;
    std::string s = "[";
    for (uint32_t f : agg.path(leaf)) {
      if (s.size() > 1) s += ',';
      s += std::to_string(frame_index(f));
    }
    s += ']';
    return stacks.emplace(leaf, std::move(s)).first->second;
  };

  std::string profiles;
  for (uint32_t t = 0; t < agg.threads().size(); ++t) {
    std::string samples, weights;
    uint64_t total = 0;
    auto add = [&](uint32_t leaf, uint64_t count) {
      if (!samples.empty()) {
        samples += ',';
        weights += ',';
      }
      samples += stack_of(leaf);
      weights += std::to_string(count);
      total += count;
    };
    if (agg.timeline_complete()) {
      for (const auto& run : agg.timeline(t)) add(run.leaf, run.count);
    } else {
      for (uint32_t n = 0; n < nodes.size(); ++n)  // too many samples to keep their order: by stack
        if (nodes[n].thread == t && nodes[n].self && nodes[n].parent != StackAggregate::kNone) add(n, nodes[n].self);
    }
    if (total == 0) continue;
    if (!profiles.empty()) profiles += ',';
    profiles += fmt::format(
        R"({{"type":"sampled","name":{},"unit":"none","startValue":0,"endValue":{},"samples":[{}],"weights":[{}]}})",
        json_text(thread_title(agg.threads()[t])), total, samples, weights);
  }
  return fmt::format(
             R"({{"$schema":"https://www.speedscope.app/file-format-schema.json","shared":{{"frames":{}}},"profiles":[{}],"name":{},"activeProfileIndex":0,"exporter":"pyxray py-sample"}})",
             json_text(shared_frames), profiles, json_text(info.name)) +
         "\n";
}

}  // namespace pyxray
