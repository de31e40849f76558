#include "report/render_paths.hpp"

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "heap/heap_context.hpp"
#include "repr/repr.hpp"

namespace pyxray {
namespace {

bool identifier(std::string_view s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// Steps i and i + 1 read as one attribute: an object's __dict__, then the dict's value under an
// identifier key. Not when the dict is the target itself: it must be shown.
bool collapses(const std::vector<PathStep>& s, std::size_t i) {
  return i + 2 < s.size() && s[i].edge == ".__dict__" && s[i + 1].type == "dict" &&
         !identifier_key(s[i + 1].edge).empty();
}

// How far from the target a node is, as objgraph shades them: white next to it, darker further back.
std::string fill(std::size_t distance) {
  const double v = 1.0 - 0.7 * static_cast<double>(std::min<std::size_t>(distance, 10)) / 10.0;
  return fmt::format("0,0,{:.2f}", v);
}

}  // namespace

std::string identifier_key(std::string_view edge) {
  if (edge.size() < 5 || edge.substr(0, 2) != "['" || edge.substr(edge.size() - 2) != "']") return "";
  std::string_view key = edge.substr(2, edge.size() - 4);
  return identifier(key) ? std::string(key) : "";
}

std::string root_expression(const PathRoot& r) {
  switch (r.kind) {
    case PathRoot::Kind::Global:
    case PathRoot::Kind::Class: return r.holder + "." + r.attr;
    case PathRoot::Kind::Local: return r.legacy;
    case PathRoot::Kind::Interned:
    case PathRoot::Kind::Frozen: return r.holder + r.attr;
  }
  return r.legacy;
}

std::string path_expression(const PathView& p) {
  std::string s = root_expression(p.root);
  const auto& steps = p.steps;
  if (steps.empty()) return s;
  const PathStep& target = steps.back();
  if (steps.size() == 1) return fmt::format("{} is <{} 0x{:x}>", s, target.type, target.address);
  for (std::size_t i = 0; i + 1 < steps.size(); ++i) {
    if (i > 0) s += " -> " + steps[i].type;
    if (collapses(steps, i)) {
      s += "." + identifier_key(steps[i + 1].edge);
      ++i;  // the dict is said by the attribute
    } else {
      s += steps[i].edge;
    }
  }
  return s + fmt::format(" -> <{} 0x{:x}>", target.type, target.address);
}

nlohmann::ordered_json path_root_json(const PathRoot& r) {
  using J = nlohmann::ordered_json;
  return {{"kind", root_kind_name(r.kind)},
          {"module", r.module.empty() ? J(nullptr) : J(r.module)},
          {"name", r.name.empty() ? J(nullptr) : J(r.name)}};
}

std::string dot_quote(std::string_view s) {
  std::string q = "\"";
  for (char c : s) {
    if (c == '\n') {
      q += "\\n";
      continue;
    }
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      q += ' ';
      continue;
    }
    if (c == '"' || c == '\\') q += '\\';
    q += c;
  }
  return q + "\"";
}

std::string paths_dot(const std::vector<PathView>& paths) {
  std::string out = "digraph ObjectGraph {\n  node[shape=box, style=filled, fillcolor=white];\n";
  std::set<uint64_t> drawn;
  std::set<std::string> edges;
  std::map<std::string, std::size_t> holders;  // a root's holder text -> its node number
  auto node = [](uint64_t a) { return fmt::format("o{:x}", a); };
  for (const auto& p : paths) {
    const auto& steps = p.steps;
    for (std::size_t i = 0; i < steps.size(); ++i) {
      const PathStep& s = steps[i];
      if (!drawn.insert(s.address).second) continue;
      const bool target = i + 1 == steps.size();
      out += fmt::format("  {} [label={}, fillcolor={}{}];\n", node(s.address),
                         dot_quote(s.type + "\n" + (s.repr.empty() ? fmt::format("0x{:x}", s.address) : s.repr)),
                         dot_quote(fill(steps.size() - 1 - i)), target ? ", color=red, fontcolor=red" : "");
    }
    for (std::size_t i = 0; i + 1 < steps.size(); ++i) {
      const std::string& label = steps[i].edge;
      // objgraph's weights keep attribute chains straight: __dict__ strongest, then named keys.
      const int weight = label == ".__dict__" ? 10 : !identifier_key(label).empty() ? 2 : 1;
      std::string e = fmt::format("  {} -> {} [label={}, weight={}];\n", node(steps[i].address),
                                  node(steps[i + 1].address), dot_quote(label), weight);
      if (edges.insert(e).second) out += e;
    }
    if (steps.empty()) continue;
    auto [it, added] = holders.try_emplace(p.root.holder, holders.size());
    const std::string root = fmt::format("r{}", it->second);
    // Modules in objgraph's green; other holders (a frame, the interned table) plain.
    if (added)
      out += fmt::format("  {} [shape=ellipse, label={}, fillcolor={}];\n", root, dot_quote(p.root.holder),
                         dot_quote(p.root.kind == PathRoot::Kind::Local ? "0,0,1" : "0.3,1,1"));
    std::string e = fmt::format("  {} -> {} [label={}];\n", root, node(steps.front().address), dot_quote(p.root.attr));
    if (edges.insert(e).second) out += e;
  }
  return out + "}\n";
}

PathView read_path_view(HeapContext& ctx, const HeapPath& chain, bool with_repr) {
  PathView v{chain.root, {}};
  const auto& objs = chain.objects;
  for (std::size_t i = 0; i < objs.size(); ++i) {
    const TypeInfo* t = ctx.validated(objs[i]);
    v.steps.push_back({objs[i], t ? t->name : "?", i + 1 < objs.size() ? edge_label(ctx, objs[i], objs[i + 1]) : "",
                       with_repr ? safe_repr(ctx.proc, ctx.objects, objs[i], label_repr_limits()) : ""});
  }
  return v;
}

}  // namespace pyxray
