#include "sample/stack_aggregate.hpp"

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "base/limits.hpp"

namespace pyxray {

uint32_t FrameTable::intern(const FrameInfo& frame) {
  // Two code objects of one name in one file (a lambda's twins) differ in their first line.
  std::string key = fmt::format("{}\n{}\n{}\n{}\n{}", frame.native ? 'n' : 'p', frame.function, frame.file, frame.line,
                                frame.first_line);
  auto [it, inserted] = index_.try_emplace(std::move(key), static_cast<uint32_t>(frames_.size()));
  if (inserted) frames_.push_back(frame);
  return it->second;
}

std::string FrameTable::label(uint32_t id) const {
  const FrameInfo& f = frames_[id];
  if (f.file.empty()) return f.function;
  if (f.line < 0) return fmt::format("{} ({})", f.function, f.file);
  return fmt::format("{} ({}:{})", f.function, f.file, f.line);
}

std::string thread_title(const SampledThread& t) {
  std::string id = t.native_id ? fmt::format("tid {}", *t.native_id) : fmt::format("thread 0x{:x}", t.thread_id);
  return t.name.empty() ? id : fmt::format("{} ({})", t.name, id);
}

StackAggregate::StackAggregate() : max_runs_(static_cast<std::size_t>(limits().timeline_runs)) {
  nodes_.reserve(1 << 12);
  children_.reserve(1 << 12);
}

uint32_t StackAggregate::add_thread(SampledThread t) {
  auto index = static_cast<uint32_t>(threads_.size());
  threads_.push_back(std::move(t));
  Node root;
  root.thread = index;
  roots_.push_back(static_cast<uint32_t>(nodes_.size()));
  nodes_.push_back(root);
  timelines_.emplace_back();
  return index;
}

uint32_t StackAggregate::child(uint32_t parent, uint32_t frame) {
  uint64_t key = (uint64_t{parent} << 32) | frame;
  auto it = children_.find(key);
  if (it != children_.end()) return it->second;
  Node n;
  n.parent = parent;
  n.frame = frame;
  n.thread = nodes_[parent].thread;
  n.depth = nodes_[parent].depth + 1;
  auto id = static_cast<uint32_t>(nodes_.size());
  nodes_.push_back(n);
  children_.emplace(key, id);
  return id;
}

void StackAggregate::begin_round(double seconds) {
  if (!timeline_complete_) return;
  if (runs_ >= max_runs_) {
    timeline_complete_ = false;
    return;
  }
  round_times_.push_back(seconds);
  gil_holders_.push_back(kNone);
  ++runs_;
}

void StackAggregate::set_gil_holder(uint32_t thread) {
  if (timeline_complete_ && !gil_holders_.empty() && gil_holders_.back() == kNone) gil_holders_.back() = thread;
}

void StackAggregate::add(uint32_t thread, std::span<const uint32_t> innermost_first) {
  uint32_t node = roots_[thread];
  for (auto it = innermost_first.rbegin(); it != innermost_first.rend(); ++it) node = child(node, *it);
  ++nodes_[node].self;
  ++samples_;
  if (!timeline_complete_) return;
  auto& runs = timelines_[thread];
  const uint32_t round = round_times_.empty() ? kNone : static_cast<uint32_t>(round_times_.size() - 1);
  // A run goes on only in the very next round: a round where the thread was not recorded (idle, an
  // error) ends it, so that every sample of a run has its round's time.
  if (!runs.empty() && runs.back().leaf == node && runs.back().count < UINT32_MAX &&
      (round == kNone || (runs.back().first_round != kNone && runs.back().first_round + runs.back().count == round))) {
    ++runs.back().count;
  } else if (runs_ < max_runs_) {
    runs.push_back({node, 1, round});
    ++runs_;
  } else {
    timeline_complete_ = false;
  }
}

std::vector<uint32_t> StackAggregate::path(uint32_t node) const {
  std::vector<uint32_t> out;
  for (uint32_t n = node; nodes_[n].parent != kNone; n = nodes_[n].parent) out.push_back(nodes_[n].frame);
  std::reverse(out.begin(), out.end());
  return out;
}

std::string folded_stacks(const StackAggregate& agg, const FrameTable& frames) {
  // The same stack in two threads is one line: threads are not part of the folded format.
  std::map<std::string, uint64_t> lines;
  const auto& nodes = agg.nodes();
  for (uint32_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].self == 0 || nodes[i].parent == StackAggregate::kNone) continue;
    std::string stack;
    for (uint32_t f : agg.path(i)) {
      if (!stack.empty()) stack += ';';
      // ';' separates frames and the last space the count: keep both out of frame text.
      std::string label = frames.label(f);
      std::replace(label.begin(), label.end(), ';', ':');
      std::replace(label.begin(), label.end(), '\n', ' ');
      stack += label;
    }
    lines[stack] += nodes[i].self;
  }
  std::string out;
  for (const auto& [stack, count] : lines) out += fmt::format("{} {}\n", stack, count);
  return out;
}

std::vector<FunctionCost> function_costs(const StackAggregate& agg, const FrameTable& frames) {
  std::map<std::tuple<bool, std::string, std::string>, FunctionCost> by_function;
  auto cost_of = [&](uint32_t frame) -> FunctionCost& {
    const FrameInfo& f = frames.at(frame);
    auto& c = by_function[{f.native, f.function, f.file}];
    c.function = f.function;
    c.file = f.file;
    c.native = f.native;
    return c;
  };
  const auto& nodes = agg.nodes();
  for (uint32_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].self == 0 || nodes[i].parent == StackAggregate::kNone) continue;
    cost_of(nodes[i].frame).own += nodes[i].self;
    std::set<FunctionCost*> on_stack;  // a recursive function counts once per sample
    for (uint32_t n = i; nodes[n].parent != StackAggregate::kNone; n = nodes[n].parent)
      on_stack.insert(&cost_of(nodes[n].frame));
    for (FunctionCost* c : on_stack) c->total += nodes[i].self;
  }
  std::vector<FunctionCost> out;
  for (auto& [key, c] : by_function) out.push_back(std::move(c));
  std::stable_sort(out.begin(), out.end(), [](const FunctionCost& a, const FunctionCost& b) {
    return a.own != b.own ? a.own > b.own : a.total > b.total;
  });
  return out;
}

}  // namespace pyxray
