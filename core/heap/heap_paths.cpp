#include "heap/heap_paths.hpp"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "base/limits.hpp"
#include "heap/gc_lists.hpp"
#include "heap/heap_context.hpp"
#include "heap/heap_walk.hpp"
#include "interp/python_process.hpp"
#include "layout/version_traits.hpp"
#include "repr/repr.hpp"
#include "target/memory.hpp"

namespace pyxray {
namespace {

// The key under which `dict` holds `value` ("?" when it cannot be read): a global's or a class
// attribute's name.
std::string key_of(HeapContext& ctx, uint64_t dict, uint64_t value) {
  std::string key = "?";
  (void)ctx.objects.dict_items(dict, [&](uint64_t k, uint64_t v) {
    if (v != value) return true;
    key = ctx.objects.read_text(k, 200).value_or("?");
    return false;
  });
  return key;
}

// An object on the frontier of one target's search: one key per (object, target), so that an object
// that leads to two targets is searched from for both. Addresses stay below 2^47, leaving 16 bits.
constexpr std::size_t kMaxTargets = 1 << 16;
uint64_t key_of(uint64_t addr, uint32_t origin) { return addr | (uint64_t{origin} << 48); }

// A type's __dict__ reached from a module: its attributes are roots named through the module.
struct ClassDict {
  std::string module, type_name;
};

// The __dict__ of every type that a module holds under a name, by that dict's address. A type several
// modules hold is named through the module that defined it when one of them did.
std::unordered_map<uint64_t, ClassDict> class_dicts(HeapContext& ctx, const HeapRoots& roots) {
  std::unordered_map<uint64_t, ClassDict> out;
  const Layout& L = ctx.proc.layout();
  if (L.type_tp_dict == kAbsent) return out;
  std::vector<std::pair<std::string, uint64_t>> modules;  // sorted: the same answer every run
  for (const auto& [dict, name] : roots.module_dicts) modules.emplace_back(name, dict);
  std::sort(modules.begin(), modules.end());
  for (const auto& entry : modules) {
    const std::string& module = entry.first;  // a name, not a structured binding: the lambda uses it
    (void)ctx.objects.dict_items(entry.second, [&](uint64_t k, uint64_t v) {
      const TypeInfo* t = ctx.validated(v);
      if (!t || t->kind != BaseKind::Type) return true;
      const uint64_t tp_dict = ctx.proc.mem().read_ptr(v + static_cast<uint64_t>(L.type_tp_dict)).value_or(0);
      if (!tp_dict) return true;
      auto name = ctx.objects.read_text(k, 200);
      if (!name) return true;
      const TypeInfo* self = ctx.types.get(v);
      auto [it, added] = out.try_emplace(tp_dict, ClassDict{module, *name});
      if (!added && self && self->module == module && it->second.module != module) it->second = {module, *name};
      return true;
    });
  }
  return out;
}

// The objects gc.freeze() moved to the permanent generation, read along its lists (one read per
// object). Not when there are more than this: then no object counts as frozen, and a warning says so.
constexpr std::size_t kMaxFrozen = 1'000'000;

Expected<std::unordered_set<uint64_t>> frozen_objects(HeapContext& ctx) {
  PYX_TRY(g, gc_lists(ctx.proc));
  Memory& m = ctx.proc.mem();
  std::unordered_set<uint64_t> out;
  for (uint64_t head : g.permanent) {
    auto first = m.read_bytes(head, 16);
    if (!first) return fail(fmt::format("cannot read the permanent generation's head at 0x{:x}", head));
    for (uint64_t node = GcLists::next(*first); node && node != head;) {
      if (out.size() >= kMaxFrozen)
        return fail(fmt::format("more than {} objects are frozen (gc.freeze())", kMaxFrozen));
      if (!out.insert(node + g.head_size).second) break;  // a ring that does not come back to its head
      auto bytes = m.read_bytes(node, 16);
      if (!bytes) return fail(fmt::format("cannot read the permanent generation's list at 0x{:x}", node));
      node = GcLists::next(*bytes);
    }
  }
  return out;
}

// "thread 1234 frame main: x" -> holder "thread 1234 frame main", name "x".
PathRoot local_root(const std::string& label) {
  PathRoot r;
  r.kind = PathRoot::Kind::Local;
  r.legacy = label;
  const auto colon = label.rfind(": ");
  r.holder = colon == std::string::npos ? label : label.substr(0, colon);
  r.name = r.attr = colon == std::string::npos ? "" : label.substr(colon + 2);
  return r;
}

}  // namespace

const char* root_kind_name(PathRoot::Kind k) {
  switch (k) {
    case PathRoot::Kind::Global: return "global";
    case PathRoot::Kind::Local: return "local";
    case PathRoot::Kind::Class: return "class";
    case PathRoot::Kind::Interned: return "interned";
    case PathRoot::Kind::Frozen: return "frozen";
  }
  return "?";
}

Expected<PathSearchResult> find_paths(HeapContext& ctx, const std::vector<uint64_t>& targets, const PathSearch& opt) {
  if (targets.size() > kMaxTargets) return fail(fmt::format("at most {} objects at once", kMaxTargets));
  PythonProcess& proc = ctx.proc;
  PathSearchResult res;
  res.direct.resize(targets.size());
  HeapRoots roots = heap_roots(proc, ctx.objects);
  std::unordered_multimap<uint64_t, std::string> local_roots;
  for (const auto& l : roots.frame_locals) local_roots.emplace(l.value, l.label);
  std::unordered_map<uint64_t, ClassDict> classes;
  if (opt.more_roots) classes = class_dicts(ctx, roots);
  res.warnings = roots.warnings;
  res.heap_walked = !proc.traits().mimalloc_heap;
  if (!res.heap_walked)
    res.warnings.insert(res.warnings.begin(),
                        fmt::format("{}: only frame locals are searched", kMimallocHeapNotWalked));

  const auto n = static_cast<uint32_t>(targets.size());
  std::unordered_map<uint64_t, uint64_t> toward;  // key(referrer, target) -> the object it holds, one step closer
  std::unordered_set<uint64_t> visited;           // keys
  std::unordered_map<uint64_t, std::vector<uint32_t>> frontier;  // object -> the targets it leads to
  std::vector<std::size_t> found(n, 0);                          // chains per target
  for (uint32_t o = 0; o < n; ++o) {
    visited.insert(key_of(targets[o], o));
    frontier[targets[o]].push_back(o);
  }
  bool truncated = false;
  HeapWalkStats last;
  auto path_from = [&](uint64_t x, uint32_t o) {
    std::vector<uint64_t> p{x};
    while (p.back() != targets[o] && p.size() < 10000) {
      auto it = toward.find(key_of(p.back(), o));
      if (it == toward.end()) break;
      p.push_back(it->second);
    }
    return p;
  };
  auto add_chain = [&](uint32_t o, PathRoot root, uint64_t first) {
    if (found[o] >= opt.max_chains) return;
    ++found[o];
    res.chains.push_back({o, std::move(root), path_from(first, o)});
  };
  auto all_found = [&] { return std::all_of(found.begin(), found.end(), [](std::size_t f) { return f > 0; }); };
  while (res.depth < opt.max_depth && !frontier.empty()) {
    for (const auto& [x, origins] : frontier) {
      auto [b, e] = local_roots.equal_range(x);
      for (uint32_t o : origins)
        for (auto it = b; it != e; ++it) add_chain(o, local_root(it->second), x);
      if (opt.more_roots && ctx.interned_str(x)) {
        PathRoot r;
        r.kind = PathRoot::Kind::Interned;
        r.holder = "sys.intern";
        r.attr = "(" + safe_repr(proc, ctx.objects, x, label_repr_limits()) + ")";
        r.legacy = "<interned str>";
        for (uint32_t o : origins) add_chain(o, r, x);
      }
    }
    if (all_found() || !res.heap_walked) break;
    std::unordered_set<uint64_t> wanted;
    for (const auto& [x, origins] : frontier) wanted.insert(x);
    std::vector<std::pair<uint64_t, uint64_t>> edges;
    HeapWalkOptions walk;
    walk.edge_targets = &wanted;
    walk.on_edge = [&](uint64_t src, uint64_t dst) {
      if (src) edges.emplace_back(src, dst);
    };
    PYX_TRY(stats, ctx.walk(walk));
    last = stats;
    if (stats.interrupted) {  // its warning says so; the chains found so far stand
      res.interrupted = true;
      break;
    }
    ++res.depth;
    std::sort(edges.begin(), edges.end());
    edges.erase(std::unique(edges.begin(), edges.end()), edges.end());
    std::unordered_map<uint64_t, std::vector<uint32_t>> next;
    std::size_t next_entries = 0;
    const std::vector<std::size_t> found_before = found;  // chains at this same step are all wanted
    for (const auto& edge : edges) {
      // Not a structured binding: clang 14 (the fuzzing build) cannot capture one in a lambda.
      const uint64_t src = edge.first, dst = edge.second;
      for (uint32_t o : frontier[dst]) {
        if (found_before[o]) continue;  // this target's shortest chains are known; longer ones are not wanted
        auto& direct = res.direct[o];
        if (res.depth == 1 && direct.size() < opt.max_direct &&
            std::find(direct.begin(), direct.end(), src) == direct.end())
          direct.push_back(src);
        if (auto m = roots.module_dicts.find(src); m != roots.module_dicts.end()) {
          const std::string key = key_of(ctx, src, dst);
          PathRoot r;
          r.kind = PathRoot::Kind::Global;
          r.module = m->second;
          r.name = r.attr = key;
          r.holder = fmt::format("sys.modules['{}']", m->second);
          r.legacy = fmt::format("{}.{}", m->second, key);
          add_chain(o, std::move(r), dst);
          continue;
        }
        if (auto c = classes.find(src); c != classes.end()) {
          const std::string key = key_of(ctx, src, dst);
          PathRoot r;
          r.kind = PathRoot::Kind::Class;
          r.module = c->second.module;
          r.name = c->second.type_name + "." + key;
          r.holder = fmt::format("sys.modules['{}'].{}", c->second.module, c->second.type_name);
          r.attr = key;
          r.legacy = fmt::format("{}.{}", c->second.module, r.name);
          add_chain(o, std::move(r), dst);
          continue;
        }
        if (!visited.insert(key_of(src, o)).second) continue;
        if (next_entries >= static_cast<std::size_t>(limits().referrer_frontier)) {
          visited.erase(key_of(src, o));
          truncated = true;
          continue;
        }
        toward.emplace(key_of(src, o), dst);
        next[src].push_back(o);
        ++next_entries;
      }
    }
    // Targets with chains at this step are done: their chains are the shortest.
    for (auto it = next.begin(); it != next.end();) {
      auto& origins = it->second;
      origins.erase(std::remove_if(origins.begin(), origins.end(), [&](uint32_t o) { return found[o] > 0; }),
                    origins.end());
      it = origins.empty() ? next.erase(it) : std::next(it);
    }
    if (all_found()) break;
    frontier = std::move(next);
  }
  // An object no root reaches may be kept by gc.freeze(): the permanent generation is never
  // collected, so a frozen cycle stays however unreachable. Only then is a frozen object a root (a
  // frozen object is usually held by something else too, which names it better): the one holding the
  // object by the shortest chain, the object itself when nothing frozen holds it.
  const bool unexplained = std::any_of(found.begin(), found.end(), [](std::size_t f) { return f == 0; });
  if (opt.more_roots && res.heap_walked && !res.interrupted && unexplained) {
    auto frozen = frozen_objects(ctx);
    if (!frozen) res.warnings.push_back(frozen.error().message + ": frozen objects are not taken as roots");
    std::vector<std::vector<uint64_t>> best(n);  // per target without a chain: the shortest frozen path
    if (frozen && !frozen->empty())
      for (const auto& [key, holds] : toward) {
        const auto o = static_cast<uint32_t>(key >> 48);
        const uint64_t x = key & ((uint64_t{1} << 48) - 1);
        if (found[o] || !frozen->contains(x)) continue;
        auto p = path_from(x, o);
        if (best[o].empty() || p.size() < best[o].size() || (p.size() == best[o].size() && p[0] < best[o][0]))
          best[o] = std::move(p);
      }
    for (uint32_t o = 0; o < n; ++o) {
      if (found[o] || !frozen) continue;
      if (best[o].empty() && frozen->contains(targets[o])) best[o] = {targets[o]};
      if (best[o].empty()) continue;
      PathRoot r;
      r.kind = PathRoot::Kind::Frozen;
      const TypeInfo* t = ctx.validated(best[o][0]);
      r.holder = "gc.freeze()d ";
      r.attr = fmt::format("<{} 0x{:x}>", t ? t->name : "?", best[o][0]);
      r.legacy = r.holder + r.attr;
      ++found[o];
      res.chains.push_back({o, std::move(r), std::move(best[o])});
    }
  }
  if (truncated)
    res.warnings.push_back(fmt::format("more than {} referrers at one level: some were not followed ({})",
                                       limits().referrer_frontier, raise_hint("referrer-frontier")));
  for (const auto& w : last.warnings) res.warnings.push_back(w);
  return res;
}

std::string edge_label(HeapContext& ctx, uint64_t holder, uint64_t held) {
  const TypeInfo* t = ctx.validated(holder);
  if (!t) return "";
  PythonProcess& proc = ctx.proc;
  const Layout& L = proc.layout();
  Memory& m = proc.mem();
  const int64_t max_items = limits().container_items;
  auto index_in = [&](uint64_t items, int64_t n) -> std::string {
    n = std::min(n, max_items);
    for (int64_t first = 0; first < n; first += 4096) {
      const int64_t count = std::min<int64_t>(4096, n - first);
      auto raw = m.read_bytes(items + static_cast<uint64_t>(first) * 8, static_cast<std::size_t>(count) * 8);
      if (!raw) return "";
      for (int64_t i = 0; i < count; ++i)
        if (load_u64(*raw, i * 8) == held) return fmt::format("[{}]", first + i);
    }
    return "";
  };
  auto field_is = [&](int64_t offset) {
    return offset != kAbsent && m.read_ptr(holder + static_cast<uint64_t>(offset)).value_or(0) == held;
  };
  std::string label;
  switch (t->kind) {
    case BaseKind::Tuple:
    case BaseKind::List: {
      auto n = m.read<int64_t>(holder + L.varobject_ob_size);
      if (!n || *n <= 0) break;
      uint64_t items = holder + static_cast<uint64_t>(L.tuple_ob_item);
      if (t->kind == BaseKind::List) items = m.read_ptr(holder + L.list_ob_item).value_or(0);
      if (items) label = index_in(items, *n);
      break;
    }
    case BaseKind::Dict: {
      const ReprLimits kl = label_repr_limits();
      (void)ctx.objects.dict_items(holder, [&](uint64_t k, uint64_t v) {
        if (v == held) label = "[" + safe_repr(proc, ctx.objects, k, kl) + "]";
        else if (k == held) label = "(key)";
        return label.empty();
      });
      break;
    }
    case BaseKind::Set:
    case BaseKind::FrozenSet: label = "(member)"; break;
    case BaseKind::Cell:
      if (field_is(L.cell_ob_ref)) label = ".cell_contents";
      break;
    case BaseKind::Module:
      if (field_is(L.module_md_dict != kAbsent ? L.module_md_dict : 16)) label = ".__dict__";
      break;
    case BaseKind::Type:
      if (field_is(L.type_tp_dict)) label = ".__dict__";
      else if (field_is(L.type_tp_base)) label = ".__base__";
      break;
    default:
      if (!t->heap && (t->tp_name == "method" || t->tp_name == "instancemethod")) {  // a bound method
        if (field_is(L.method_im_func)) label = ".__func__";
        else if (field_is(L.method_im_self)) label = ".__self__";
      }
      break;
  }
  if (!label.empty() || !t->heap) return label;
  // An instance of a class: its attributes, its __slots__, its __dict__ itself.
  (void)ctx.objects.instance_items(holder, [&](uint64_t k, uint64_t v) {
    if (v == held) label = "." + ctx.objects.read_text(k, 200).value_or("?");
    return label.empty();
  });
  for (std::size_t i = 0; label.empty() && i < t->slots.size(); ++i) {
    if (!field_is(t->slots[i])) continue;
    auto name = i < t->slot_names.size() ? m.read_cstring(t->slot_names[i], 200) : Expected<std::string>(fail("?"));
    label = "." + name.value_or("?");
  }
  if (label.empty()) {
    if (auto d = ctx.objects.instance_dict(holder); d && d->dict == held) label = ".__dict__";
  }
  return label;
}

}  // namespace pyxray
