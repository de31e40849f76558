#include "sample/sample_diff.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>

namespace pyxray {
namespace {

using FunctionKey = std::pair<std::string, std::string>;  // function, file

struct Cost {
  double own = 0, total = 0;
};

// Own and total samples per function of one profile.
std::map<FunctionKey, Cost> costs_of(const FoldedProfile& p) {
  std::map<FunctionKey, Cost> out;
  std::unordered_map<std::string, FunctionKey> key_of;  // frame text -> function, parsed once
  auto key = [&](const std::string& frame) -> const FunctionKey& {
    auto it = key_of.find(frame);
    if (it == key_of.end()) {
      FoldedFunction f = function_of_frame(frame);
      it = key_of.emplace(frame, FunctionKey{std::move(f.function), std::move(f.file)}).first;
    }
    return it->second;
  };
  for (const FoldedStack& s : p.stacks) {
    out[key(s.frames.back())].own += s.count;
    std::set<FunctionKey> on_stack;  // a recursive function counts once per sample
    for (const auto& f : s.frames) on_stack.insert(key(f));
    for (const auto& k : on_stack) out[k].total += s.count;
  }
  return out;
}

double share(double part, double whole) { return whole > 0 ? 100.0 * part / whole : 0; }

// A count without a needless decimal point.
std::string count_text(double v) {
  if (v == std::floor(v) && std::abs(v) < 9e15) return fmt::format("{:.0f}", v);
  return fmt::format("{:.1f}", v);
}

// "+1.2%", "-0.4%", and "+0.0%" rather than "-0.0%".
std::string points_text(double v) { return fmt::format("{:+.1f}%", std::abs(v) < kShownChange ? 0.0 : v); }

// Both profiles' stacks merged into one tree: every frame path of either, with each profile's
// samples ending there (self) and passing through (total).
struct MergedNode {
  std::string label;
  double base_self = 0, new_self = 0, base_total = 0, new_total = 0;
  std::map<std::string, std::size_t> children;
};

class MergedTree {
 public:
  MergedTree() : nodes_(1) { nodes_[0].label = "all"; }

  void add(const FoldedProfile& p, bool is_base) {
    for (const FoldedStack& s : p.stacks) {
      std::size_t n = 0;
      count(n, s.count, is_base, false);
      for (const auto& f : s.frames) {
        auto it = nodes_[n].children.find(f);
        if (it == nodes_[n].children.end()) {
          const std::size_t id = nodes_.size();
          nodes_.push_back({});  // may move the vector: look the parent up again below
          nodes_.back().label = f;
          it = nodes_[n].children.emplace(f, id).first;
        }
        n = it->second;
        count(n, s.count, is_base, false);
      }
      count(n, s.count, is_base, true);
    }
  }
  const MergedNode& at(std::size_t id) const { return nodes_[id]; }
  std::size_t size() const { return nodes_.size(); }

 private:
  void count(std::size_t n, double c, bool is_base, bool self) {
    MergedNode& node = nodes_[n];
    (self ? (is_base ? node.base_self : node.new_self) : (is_base ? node.base_total : node.new_total)) += c;
  }
  std::vector<MergedNode> nodes_;
};

}  // namespace

SampleDiff diff_profiles(const FoldedProfile& base, const FoldedProfile& now, const DiffOptions& options) {
  SampleDiff d;
  d.base_samples = base.total;
  d.new_samples = now.total;
  d.scale = options.normalize && base.total > 0 ? now.total / base.total : 1.0;
  std::map<FunctionKey, FunctionChange> merged;
  for (const auto& [k, c] : costs_of(base)) {
    FunctionChange& f = merged[k];
    f.base_own = c.own;
    f.base_total = c.total;
  }
  for (const auto& [k, c] : costs_of(now)) {
    FunctionChange& f = merged[k];
    f.new_own = c.own;
    f.new_total = c.total;
  }
  for (auto& [k, f] : merged) {
    f.function = k.first;
    f.file = k.second;
    f.own_change = share(f.new_own, d.new_samples) - share(f.base_own, d.base_samples);
    f.total_change = share(f.new_total, d.new_samples) - share(f.base_total, d.base_samples);
    d.functions.push_back(std::move(f));
  }
  // The map's order (name, file) breaks ties: equal inputs give equal output.
  std::stable_sort(d.functions.begin(), d.functions.end(), [](const FunctionChange& a, const FunctionChange& b) {
    if (std::abs(a.own_change) != std::abs(b.own_change)) return std::abs(a.own_change) > std::abs(b.own_change);
    return std::abs(a.total_change) > std::abs(b.total_change);
  });
  return d;
}

std::vector<const FunctionChange*> top_changes(const SampleDiff& d, bool by_total, std::size_t limit) {
  auto change = [by_total](const FunctionChange* f) { return std::abs(by_total ? f->total_change : f->own_change); };
  std::vector<const FunctionChange*> rows;
  for (const auto& f : d.functions)
    if (change(&f) >= kShownChange) rows.push_back(&f);
  std::stable_sort(rows.begin(), rows.end(),
                   [&change](const FunctionChange* a, const FunctionChange* b) { return change(a) > change(b); });
  if (rows.size() > limit) rows.resize(limit);
  return rows;
}

std::string diff_fill(double delta, double max_delta) {
  if (std::abs(delta) < 0.5 || max_delta <= 0) return "rgb(255,255,255)";
  const double v = std::min(std::abs(delta), max_delta);
  const int c = static_cast<int>(210 * (max_delta - v) / max_delta);
  return delta > 0 ? fmt::format("rgb(255,{0},{0})", c) : fmt::format("rgb({0},{0},255)", c);
}

FlameNode diff_flame_tree(const FoldedProfile& base, const FoldedProfile& now, const DiffOptions& options) {
  MergedTree tree;
  tree.add(base, true);
  tree.add(now, false);
  const double scale = options.normalize && base.total > 0 ? now.total / base.total : 1.0;
  auto width = [&](const MergedNode& n) { return options.negate ? n.base_total : n.new_total; };
  // The colour is of the self samples' change, as in Gregg's flamegraph.pl (the delta goes to a
  // stack's leaf only): a caller of code that grew stays white.
  auto delta = [scale](const MergedNode& n) { return n.new_self - scale * n.base_self; };
  double max_delta = 0;
  for (std::size_t i = 0; i < tree.size(); ++i)
    if (width(tree.at(i)) > 0) max_delta = std::max(max_delta, std::abs(delta(tree.at(i))));

  auto describe = [&](const MergedNode& n) {
    return fmt::format(
        "{} \u2192 {} samples, {}; self {} \u2192 {}, {}", count_text(n.base_total), count_text(n.new_total),
        points_text(share(n.new_total, now.total) - share(n.base_total, base.total)), count_text(n.base_self),
        count_text(n.new_self), points_text(share(n.new_self, now.total) - share(n.base_self, base.total)));
  };
  FlameNode root;
  root.label = "all";
  root.kind = FlameNode::kRoot;
  root.count = width(tree.at(0));
  root.fill = diff_fill(0, max_delta);
  root.details = fmt::format("BASE {} \u2192 NEW {} samples", count_text(base.total), count_text(now.total));
  // Depth first, without recursion: a stack may be thousands of frames deep.
  std::vector<std::pair<std::size_t, FlameNode*>> todo{{0, &root}};
  while (!todo.empty()) {
    auto [id, parent] = todo.back();
    todo.pop_back();
    for (const auto& [label, child_id] : tree.at(id).children) {
      const MergedNode& c = tree.at(child_id);
      if (width(c) <= 0) continue;  // only in the other profile: the summary lists what is gone
      FlameNode& box = parent->child(FlameNode::kPython, label);
      box.count = width(c);
      box.fill = diff_fill(delta(c), max_delta);
      box.details = describe(c);
      todo.emplace_back(child_id, &box);
    }
  }
  return root;
}

}  // namespace pyxray
