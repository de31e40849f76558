// py-heap-summary, py-sizeof, py-biggest and py-referrers: the target's live objects by type, the
// size of one object (and of what it holds), the largest objects, and who holds an object.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <optional>
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/interrupt.hpp"
#include "base/json_text.hpp"
#include "base/limits.hpp"
#include "base/terminal_progress.hpp"
#include "base/thousands.hpp"
#include "commands/commands.hpp"
#include "commands/output_file.hpp"
#include "commands/selected_frame.hpp"
#include "heap/deep_size.hpp"
#include "heap/gc_generations.hpp"
#include "heap/heap_context.hpp"
#include "heap/heap_paths.hpp"
#include "heap/heap_walk.hpp"
#include "heap/object_size.hpp"
#include "heap/referents.hpp"
#include "heap/snapshot_builder.hpp"
#include "interp/objects.hpp"
#include "interp/python_process.hpp"
#include "layout/version_traits.hpp"
#include "report/render_generations.hpp"
#include "report/render_paths.hpp"
#include "repr/repr.hpp"
#include "target/memory.hpp"

namespace pyxray {
namespace {

using json = nlohmann::ordered_json;

constexpr int kDefaultBiggest = 10;
constexpr int kDefaultLimit = 30;
constexpr int kDefaultDepth = 12;
constexpr std::size_t kMaxChains = 5;
constexpr std::size_t kMaxDirect = 20;

std::string human(uint64_t bytes) {
  const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{} bytes", bytes) : fmt::format("{:.1f} {}", v, units[u]);
}

// What the user named: "local keep = " for a NAME, nothing for an ADDRESS.
std::string named_prefix(const ObjectArg& arg) {
  return arg.name.empty() ? std::string() : fmt::format("{} {} = ", arg.scope, arg.name);
}
void add_name_json(json& j, const ObjectArg& arg) {
  if (arg.name.empty()) return;
  j["name"] = arg.name;
  j["scope"] = arg.scope;
}

std::string warnings_text(const std::vector<std::string>& warnings) {
  std::string out;
  for (const auto& w : warnings) out += fmt::format("pyxray: warning: {}\n", w);
  return out;
}

std::string where_text(const HeapWalkStats& s) {
  std::string how = s.pymalloc ? fmt::format("{} in {} pymalloc arenas", thousands(s.in_arenas), thousands(s.arenas))
                               : fmt::format("no pymalloc arenas ({})", s.allocator);
  return fmt::format("({}; {} GC-tracked and {} other objects outside them; {:.2f} s)", how, thousands(s.gc_outside),
                     thousands(s.by_reference), s.seconds);
}

void add_walk_json(json& j, const HeapWalkStats& s) {
  j["allocator"] = s.allocator;
  j["pymalloc"] = s.pymalloc;
  j["arenas"] = s.arenas;
  j["in_arenas"] = s.in_arenas;
  j["gc_outside"] = s.gc_outside;
  j["by_reference"] = s.by_reference;
  j["partial"] = s.partial;
  j["target_gone"] = s.target_gone;
  j["interrupted"] = s.interrupted;
  j["seconds"] = s.seconds;
  j["warnings"] = s.warnings;
}

Expected<long long> count_arg(const ParsedArgs& args, const std::string& flag, long long def, long long min,
                              long long max) {
  if (auto v = args.value(flag)) return parse_count(flag, *v, min, max);
  return def;
}

// --- py-heap-summary ---

struct TypeRow {
  const TypeInfo* type = nullptr;
  uint64_t count = 0, bytes = 0, max = 0;
};

Expected<std::string> run_summary(Session& session, const ParsedArgs& args) {
  PYX_TRY(limit, count_arg(args, "--limit", kDefaultLimit, 1, 1'000'000));
  std::string sort = args.value("--sort").value_or("bytes");
  if (sort != "bytes" && sort != "count") return fail(fmt::format("--sort wants bytes or count, not '{}'", sort));
  const auto save_path = args.value("--save");
  if (args.has("--objects") && !save_path) return fail("--objects goes with --save FILE");
  std::optional<OutputFile> save_file;  // opened before the walk: a bad path fails at once
  if (save_path) {
    PYX_TRY(f, OutputFile::open("py-heap-summary", *save_path));
    save_file.emplace(std::move(f));
  }
  std::optional<SnapshotBuilder> snapshot;
  if (save_path) snapshot.emplace(args.has("--objects"));
  PYX_TRY(proc, session.process());
  HeapContext ctx(*proc);
  std::vector<TypeRow> rows;
  // --generations: every tracked object's list, labelled after the walk (heap/gc_generations.hpp).
  // A snapshot of every object records each one's generation too.
  const bool show_generations = args.has("--generations");
  std::optional<GenerationCensus> census;
  std::string no_generations;
  if (show_generations || (snapshot && args.has("--objects"))) {
    census.emplace(*proc);
    if (auto started = census->start(); !started) {
      if (show_generations)
        return fail(fmt::format("--generations: the GC lists cannot be found: {}", started.error().message));
      census.reset();  // the snapshot is still worth having, without generations
      no_generations =
          fmt::format("the snapshot has no generations: the GC lists cannot be found: {}", started.error().message);
    }
  }
  HeapWalkOptions opt;
  opt.on_object = [&](const HeapObject& o) {
    if (snapshot) snapshot->add(o);
    if (census) census->add(o);
    if (o.type->id >= rows.size()) rows.resize(o.type->id + 1);
    TypeRow& r = rows[o.type->id];
    r.type = o.type;
    ++r.count;
    r.bytes += o.size;
    r.max = std::max(r.max, o.size);
  };
  PYX_TRY(stats, ctx.walk(opt, /*counts_if_gone=*/true));
  if (!no_generations.empty()) stats.warnings.push_back(no_generations);
  GenerationResult gens;
  if (census) {
    gens = census->finish(stats.objects);
    for (auto& w : gens.warnings) stats.warnings.push_back(std::move(w));
  }
  GenerationColumns gen_cols(show_generations ? &gens : nullptr, proc->traits());
  rows.erase(std::remove_if(rows.begin(), rows.end(), [](const TypeRow& r) { return r.count == 0; }), rows.end());
  auto by_bytes = [](const TypeRow& a, const TypeRow& b) {
    if (a.bytes != b.bytes) return a.bytes > b.bytes;
    if (a.count != b.count) return a.count > b.count;
    return a.type->name < b.type->name;
  };
  auto by_count = [](const TypeRow& a, const TypeRow& b) {
    if (a.count != b.count) return a.count > b.count;
    if (a.bytes != b.bytes) return a.bytes > b.bytes;
    return a.type->name < b.type->name;
  };
  if (sort == "count") std::sort(rows.begin(), rows.end(), by_count);
  else std::sort(rows.begin(), rows.end(), by_bytes);
  std::string saved;  // the snapshot line of the text
  json saved_json;
  if (snapshot) {
    const std::string file = encode_snapshot(snapshot->finish(*proc, stats, census ? &gens : nullptr));
    if (auto w = save_file->write(file); !w) return Unexpected<Error>{w.error()};
    saved = fmt::format("snapshot saved to {} ({} bytes{})\n", *save_path, thousands(file.size()),
                        args.has("--objects") ? fmt::format(", {} objects", thousands(stats.objects)) : "");
    saved_json = {{"file", *save_path}, {"bytes", file.size()}, {"objects", args.has("--objects")}};
  }

  if (args.has("--json")) {
    json j;
    j["objects"] = stats.objects;
    j["bytes"] = stats.bytes;
    json types = json::array();
    for (const auto& r : rows) {
      json t = {{"type", r.type->name}, {"count", r.count}, {"bytes", r.bytes}, {"max", r.max}};
      if (show_generations) t["generations"] = gen_cols.json_of(gen_cols.of(*r.type, r.count));
      types.push_back(std::move(t));
    }
    j["types"] = std::move(types);
    if (show_generations) j["generations"] = gen_cols.json_of(gen_cols.total(stats.objects));
    add_walk_json(j, stats);
    if (snapshot) j["saved"] = std::move(saved_json);
    return json_line(j);
  }
  std::string out;
  // As py-sample does when its target exits: say so first, then what was gathered until then.
  if (stats.target_gone)
    out += fmt::format("pyxray: {}; the counts below are of the {} objects read before that\n",
                       process_gone_message(proc->target().pid(), " during the heap walk"), thousands(stats.objects));
  else if (stats.interrupted)
    out += fmt::format("pyxray: {} after {:.2f} s; the counts below are of the {} objects walked until then\n",
                       interrupt_phrase(), stats.seconds, thousands(stats.objects));
  out += fmt::format("Total {} objects, {} types, {} ({} bytes)\n", thousands(stats.objects), thousands(rows.size()),
                     human(stats.bytes), thousands(stats.bytes));
  std::size_t shown = std::min<std::size_t>(rows.size(), static_cast<std::size_t>(limit));
  std::size_t wc = 5, ws = 4, wm = 3;
  for (std::size_t i = 0; i < shown; ++i) {
    wc = std::max(wc, thousands(rows[i].count).size());
    ws = std::max(ws, thousands(rows[i].bytes).size());
    wm = std::max(wm, thousands(rows[i].max).size());
  }
  if (show_generations)
    for (std::size_t i = 0; i < shown; ++i) gen_cols.fit(gen_cols.of(*rows[i].type, rows[i].count));
  out += fmt::format("{:>5}  {:>{}}  {:>3}  {:>{}}  {:>3}  {:>3}  {:>{}}  {}{}\n", "Index", "Count", wc, "%", "Size",
                     ws, "%", "Cum", "Max", wm, gen_cols.header(), "Kind");
  uint64_t cum = 0;
  auto pct = [](uint64_t part, uint64_t whole) { return whole ? static_cast<int>(part * 100 / whole) : 0; };
  for (std::size_t i = 0; i < shown; ++i) {
    const TypeRow& r = rows[i];
    cum += sort == "count" ? r.count : r.bytes;
    out += fmt::format("{:>5}  {:>{}}  {:>3}  {:>{}}  {:>3}  {:>3}  {:>{}}  {}{}\n", i, thousands(r.count), wc,
                       pct(r.count, stats.objects), thousands(r.bytes), ws, pct(r.bytes, stats.bytes),
                       pct(cum, sort == "count" ? stats.objects : stats.bytes), thousands(r.max), wm,
                       show_generations ? gen_cols.cells(gen_cols.of(*r.type, r.count)) : "", r.type->name);
  }
  if (shown < rows.size()) out += fmt::format("  ... {} more types (--limit)\n", thousands(rows.size() - shown));
  if (show_generations) out += gen_cols.total_text(stats.objects);
  out += where_text(stats) + "\n";
  out += saved;
  out += warnings_text(stats.warnings);
  return out;
}

// --- py-sizeof ---

// "1 object", "2 objects", "1,024 objects".
std::string objects_text(uint64_t n) { return fmt::format("{} object{}", thousands(n), n == 1 ? "" : "s"); }

// Why a deep size is partial, in words: the limit it stopped at and/or the memory it could not read.
std::string partial_reason(const DeepSize& d) {
  std::vector<std::string> why;
  if (d.interrupted) why.push_back(interrupt_phrase());
  if (d.at_limit)
    why.push_back(fmt::format("stopped at {} ({})", objects_text(static_cast<uint64_t>(limits().deep_objects)),
                              raise_hint("deep-objects")));
  if (d.out_of_budget)
    why.push_back(fmt::format("stopped when {} had been visited for all the deep sizes together ({})",
                              objects_text(static_cast<uint64_t>(limits().deep_visits)), raise_hint("deep-visits")));
  if (d.unreadable)
    why.push_back(fmt::format("{} could not be read{}", objects_text(d.unreadable),
                              d.unreadable == 1 ? fmt::format(": {}", d.first_unreadable)
                                                : fmt::format(", the first {}", d.first_unreadable)));
  std::string s;
  for (const auto& w : why) s += (s.empty() ? "" : "; ") + w;
  return s;
}

Expected<std::string> run_sizeof(Session& session, const ParsedArgs& args) {
  if (args.positional.empty()) return fail("py-sizeof wants a NAME or an ADDRESS (see help py-sizeof)");
  PYX_TRY(arg, object_arg(session, args.positional[0]));
  const uint64_t addr = arg.address;
  PYX_TRY(proc, session.process());
  HeapContext ctx(*proc);
  PYX_TRY(t, ctx.object_type(addr));
  PYX_TRY(size, ctx.sizer.getsizeof(addr));
  std::optional<DeepSize> deep;
  if (args.has("--deep")) deep = deep_size(ctx, addr);
  if (args.has("--json")) {
    json j;
    add_name_json(j, arg);
    j["address"] = addr;
    j["type"] = t->name;
    j["size"] = size;
    if (deep) {
      j["deep_size"] = deep->bytes;
      j["deep_objects"] = deep->objects;
      j["partial"] = deep->partial;
      j["interrupted"] = deep->interrupted;
      if (deep->partial) j["partial_reason"] = partial_reason(*deep);
    }
    return json_line(j);
  }
  std::string out = fmt::format("{}0x{:x} ({}): {} bytes\n", named_prefix(arg), addr, t->name, thousands(size));
  if (deep) {
    out += fmt::format("deep: {} bytes in {} (types, modules and functions are not followed)\n", thousands(deep->bytes),
                       objects_text(deep->objects));
    if (deep->partial) out += fmt::format("pyxray: warning: the deep size is partial: {}\n", partial_reason(*deep));
  }
  return out;
}

// --- py-biggest --deep ---

// A container a user can name (a module global, a class attribute, a frame local) or one of the
// largest objects: the candidates whose deep sizes py-biggest --deep ranks.
struct DeepCandidate {
  uint64_t addr = 0;
  const TypeInfo* type = nullptr;
  std::string root;    // "sys.modules['leakapp'].CACHE"; "" for a large object no root names
  std::string inside;  // a large object's: the smallest named candidate whose deep size holds it
  uint64_t size = 0;
  DeepSize deep;
  bool measured = false;
};

// Every value a module holds under a name, and every attribute of a class (a heap type) a module
// holds, named as Python would reach it. A module's __builtins__ (another module's namespace) is the
// program, not its data: left out, as modules themselves are.
void named_candidates(HeapContext& ctx, const HeapRoots& roots, std::vector<DeepCandidate>& out,
                      std::unordered_set<uint64_t>& seen) {
  const Layout& L = ctx.proc.layout();
  auto add = [&](uint64_t v, std::string root) {
    if (roots.module_dicts.contains(v) || seen.contains(v)) return;
    const TypeInfo* t = ctx.validated(v);
    if (!t || skipped_in_deep(*t)) return;
    seen.insert(v);
    out.push_back({v, t, std::move(root), "", 0, {}, false});
  };
  std::vector<std::pair<std::string, uint64_t>> modules;  // sorted: the same names every run
  for (const auto& [dict, name] : roots.module_dicts) modules.emplace_back(name, dict);
  std::sort(modules.begin(), modules.end());
  for (const auto& entry : modules) {
    const std::string& module = entry.first;  // a name, not a structured binding: the lambda uses it
    (void)ctx.objects.dict_items(entry.second, [&](uint64_t k, uint64_t v) {
      const std::string key = ctx.objects.read_text(k, 200).value_or("?");
      const std::string root = fmt::format("sys.modules['{}'].{}", module, key);
      const TypeInfo* t = ctx.validated(v);
      if (t && t->kind == BaseKind::Type && L.type_tp_dict != kAbsent) {
        const TypeInfo* cls = ctx.types.get(v);
        const uint64_t tp_dict = ctx.proc.mem().read_ptr(v + static_cast<uint64_t>(L.type_tp_dict)).value_or(0);
        if (cls && cls->heap && cls->module == module && tp_dict)  // a class, where it was defined
          (void)ctx.objects.dict_items(tp_dict, [&](uint64_t ak, uint64_t av) {
            add(av, root + "." + ctx.objects.read_text(ak, 200).value_or("?"));
            return true;
          });
      }
      add(v, root);
      return true;
    });
  }
  for (const auto& l : roots.frame_locals) add(l.value, l.label);
}

Expected<std::string> run_biggest_deep(Session& session, const ParsedArgs& args, long long n,
                                       const std::optional<std::string>& type_filter) {
  PYX_TRY(proc, session.process());
  HeapContext ctx(*proc);
  HeapRoots roots = heap_roots(*proc, ctx.objects);
  std::vector<DeepCandidate> candidates;
  std::unordered_set<uint64_t> seen;
  named_candidates(ctx, roots, candidates, seen);
  // The largest objects by their own size: big containers no name reaches directly.
  struct Entry {
    uint64_t size, addr;
    bool operator>(const Entry& o) const { return size != o.size ? size > o.size : addr < o.addr; }
  };
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> top;
  const auto keep = static_cast<std::size_t>(4 * n);
  HeapWalkOptions opt;
  opt.on_object = [&](const HeapObject& o) {
    if (skipped_in_deep(*o.type)) return;
    Entry e{o.size, o.addr};
    if (top.size() < keep) {
      top.push(e);
    } else if (e > top.top()) {
      top.pop();
      top.push(e);
    }
  };
  PYX_TRY(stats, ctx.walk(opt));
  std::vector<Entry> large;
  for (; !top.empty(); top.pop()) large.push_back(top.top());
  std::reverse(large.begin(), large.end());
  // Module namespaces are the program (their values are candidates one by one), and so is the
  // interpreter's table of interned strings (names, mostly, shared by every namespace).
  std::size_t interned_tables = 0;
  for (const auto& e : large) {
    if (roots.module_dicts.contains(e.addr)) continue;
    const TypeInfo* t = ctx.validated(e.addr);
    if (!t) continue;
    if (t->kind == BaseKind::Dict && ctx.interned_table(e.addr)) {
      ++interned_tables;
      continue;
    }
    if (seen.insert(e.addr).second) candidates.push_back({e.addr, t, "", "", 0, {}, false});
  }
  if (type_filter)
    std::erase_if(candidates, [&](const DeepCandidate& c) {
      return c.type->name != *type_filter && c.type->tp_name != *type_filter;
    });

  uint64_t budget = static_cast<uint64_t>(limits().deep_visits);
  std::size_t unmeasured = 0;
  bool interrupted = false;
  // An unnamed candidate that a named one's deep size visits is named by the smallest such: it is
  // what holds it, as far as the candidates tell (named candidates come first, so are measured first).
  std::unordered_map<uint64_t, std::size_t> unnamed;  // address -> index of the candidate
  for (std::size_t i = 0; i < candidates.size(); ++i)
    if (candidates[i].root.empty()) unnamed.emplace(candidates[i].addr, i);
  std::unordered_map<std::size_t, std::size_t> holder;  // unnamed candidate -> the named one holding it
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    DeepCandidate& c = candidates[i];
    if (budget == 0 || interrupted) {
      ++unmeasured;
      continue;
    }
    if (auto s = ctx.sizer.getsizeof(c.addr)) c.size = *s;
    std::vector<std::size_t> holds;  // the unnamed candidates this one's deep size visits
    auto note = [&](uint64_t a) {
      auto u = unnamed.find(a);
      if (u != unnamed.end() && u->second != i && !c.root.empty()) holds.push_back(u->second);
    };
    c.deep = deep_size(ctx, c.addr, &budget, note);
    c.measured = true;
    interrupted = c.deep.interrupted;
    for (std::size_t u : holds) {
      auto [h, added] = holder.try_emplace(u, i);
      if (!added && candidates[h->second].deep.bytes > c.deep.bytes) h->second = i;
    }
  }
  for (const auto& [u, h] : holder) candidates[u].inside = candidates[h].root;
  std::erase_if(candidates, [](const DeepCandidate& c) { return !c.measured; });
  std::sort(candidates.begin(), candidates.end(), [](const DeepCandidate& a, const DeepCandidate& b) {
    if (a.deep.bytes != b.deep.bytes) return a.deep.bytes > b.deep.bytes;
    return a.addr < b.addr;
  });
  const std::size_t measured = candidates.size();
  // The candidate the budget ran out in (shown or not).
  const bool cut_short =
      std::any_of(candidates.begin(), candidates.end(), [](auto& c) { return c.deep.out_of_budget; });
  if (candidates.size() > static_cast<std::size_t>(n)) candidates.resize(static_cast<std::size_t>(n));
  std::vector<std::string> warnings = roots.warnings;
  if (unmeasured || cut_short)
    warnings.push_back(fmt::format(
        "the deep sizes stopped after {} visited in all: {} of {} candidates not measured{} ({})",
        objects_text(static_cast<uint64_t>(limits().deep_visits)), thousands(unmeasured),
        thousands(measured + unmeasured), cut_short ? ", one only in part" : "", raise_hint("deep-visits")));
  if (interrupted)
    warnings.push_back(fmt::format("deep sizes {}: the candidates after that were not measured", interrupt_phrase()));
  for (const auto& w : stats.warnings) warnings.push_back(w);
  ReprLimits rl;
  const std::string left_out = interned_tables ? "; the table of interned strings is left out, as modules are" : "";
  rl.max_depth = 1;
  rl.max_items = 4;
  rl.max_string = 40;
  rl.max_output = 120;
  if (args.has("--json")) {
    json j;
    json list = json::array();
    for (const auto& c : candidates) {
      json row = {{"address", c.addr},
                  {"type", c.type->name},
                  {"root", c.root.empty() ? json(nullptr) : json(c.root)},
                  {"inside", c.inside.empty() ? json(nullptr) : json(c.inside)},
                  {"size", c.size},
                  {"deep_size", c.deep.bytes},
                  {"deep_objects", c.deep.objects},
                  {"partial", c.deep.partial}};
      if (c.deep.partial) row["partial_reason"] = partial_reason(c.deep);
      row["repr"] = safe_repr(*proc, ctx.objects, c.addr, rl);
      list.push_back(std::move(row));
    }
    j["objects"] = std::move(list);
    j["candidates"] = measured + unmeasured;
    j["measured"] = measured;
    j["interned_table_left_out"] = interned_tables > 0;
    j["walked"] = stats.objects;
    add_walk_json(j, stats);
    j["warnings"] = warnings;
    return json_line(j);
  }
  std::string out;
  if (candidates.empty()) {
    out = type_filter ? fmt::format("no candidates of type {}\n", *type_filter) : "no candidates\n";
  } else {
    std::size_t wd = 4, ws = 4;
    for (const auto& c : candidates) {
      wd = std::max(wd, thousands(c.deep.bytes).size() + (c.deep.partial ? 1 : 0));
      ws = std::max(ws, thousands(c.size).size());
    }
    out += fmt::format("{:>{}}  {:>{}}  {:<18}  {}\n", "Deep", wd, "Size", ws, "Address", "Type  Name: repr");
    for (const auto& c : candidates)
      out +=
          fmt::format("{:>{}}  {:>{}}  0x{:<16x}  {}  {}: {}\n", thousands(c.deep.bytes) + (c.deep.partial ? "+" : ""),
                      wd, thousands(c.size), ws, c.addr, c.type->name,
                      !c.root.empty()     ? c.root
                      : !c.inside.empty() ? "in " + c.inside
                                          : "-",
                      safe_repr(*proc, ctx.objects, c.addr, rl));
  }
  out +=
      fmt::format("{} of {} candidates by deep size (types, modules and functions are not followed{}; + partial); {}\n",
                  thousands(candidates.size()), thousands(measured + unmeasured), left_out, where_text(stats));
  out += warnings_text(warnings);
  return out;
}

// --- py-biggest ---

Expected<std::string> run_biggest(Session& session, const ParsedArgs& args) {
  long long n = kDefaultBiggest;
  if (!args.positional.empty()) {
    PYX_TRY(v, parse_count("N", args.positional[0], 1, 100'000));
    n = v;
  }
  std::optional<std::string> type_filter = args.value("--type");
  if (args.has("--deep")) return run_biggest_deep(session, args, n, type_filter);
  PYX_TRY(proc, session.process());
  HeapContext ctx(*proc);
  struct Entry {
    uint64_t size, addr;
    const TypeInfo* type;
    bool operator>(const Entry& o) const { return size != o.size ? size > o.size : addr < o.addr; }
  };
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> top;  // the smallest kept on top
  uint64_t matched = 0;
  HeapWalkOptions opt;
  opt.on_object = [&](const HeapObject& o) {
    if (type_filter && o.type->name != *type_filter && o.type->tp_name != *type_filter) return;
    ++matched;
    Entry e{o.size, o.addr, o.type};
    if (top.size() < static_cast<std::size_t>(n)) {
      top.push(e);
    } else if (e > top.top()) {
      top.pop();
      top.push(e);
    }
  };
  PYX_TRY(stats, ctx.walk(opt));
  std::vector<Entry> items;
  while (!top.empty()) {
    items.push_back(top.top());
    top.pop();
  }
  std::reverse(items.begin(), items.end());
  ReprLimits limits;
  limits.max_depth = 1;
  limits.max_items = 4;
  limits.max_string = 40;
  limits.max_output = 120;
  if (args.has("--json")) {
    json j;
    json list = json::array();
    for (const auto& e : items)
      list.push_back({{"address", e.addr},
                      {"type", e.type->name},
                      {"size", e.size},
                      {"repr", safe_repr(*proc, ctx.objects, e.addr, limits)}});
    j["objects"] = std::move(list);
    j["matched"] = matched;
    j["walked"] = stats.objects;
    add_walk_json(j, stats);
    return json_line(j);
  }
  std::string out;
  if (items.empty()) {
    out = type_filter ? fmt::format("no objects of type {}\n", *type_filter) : "no objects\n";
  } else {
    std::size_t ws = 4;
    for (const auto& e : items) ws = std::max(ws, thousands(e.size).size());
    out += fmt::format("{:>{}}  {:<18}  {}\n", "Size", ws, "Address", "Type: repr");
    for (const auto& e : items)
      out += fmt::format("{:>{}}  0x{:<16x}  {}: {}\n", thousands(e.size), ws, e.addr, e.type->name,
                         safe_repr(*proc, ctx.objects, e.addr, limits));
  }
  out += fmt::format("{} of {} objects{} {}\n", thousands(items.size()), thousands(matched),
                     type_filter ? " of that type;" : ";", where_text(stats));
  out += warnings_text(stats.warnings);
  return out;
}

// --- py-referrers ---

Expected<std::string> run_referrers(Session& session, const ParsedArgs& args) {
  if (args.positional.empty()) return fail("py-referrers wants a NAME or an ADDRESS (see help py-referrers)");
  PYX_TRY(arg, object_arg(session, args.positional[0]));
  const uint64_t target = arg.address;
  PYX_TRY(depth_limit, count_arg(args, "--depth", kDefaultDepth, 1, 1000));
  const bool as_path = args.has("--path");
  const auto dot_path = args.value("--dot");
  if (dot_path && !as_path) return fail("--dot FILE goes with --path");
  std::optional<OutputFile> dot;  // opened before the search: a bad path fails at once
  if (dot_path) {
    PYX_TRY(f, OutputFile::open("py-referrers", *dot_path));
    dot.emplace(std::move(f));
  }
  PYX_TRY(proc, session.process());
  HeapContext ctx(*proc);
  PYX_TRY(target_type, ctx.object_type(target));
  PathSearch search;
  search.max_depth = static_cast<int>(depth_limit);
  search.max_chains = kMaxChains;
  search.max_direct = kMaxDirect;
  search.more_roots = as_path;
  PYX_TRY(found, find_paths(ctx, {target}, search));
  const std::vector<HeapPath>& chains = found.chains;
  const std::vector<uint64_t>& direct = found.direct[0];
  const std::vector<std::string>& warnings = found.warnings;
  const int depth = found.depth;
  const bool heap_walked = found.heap_walked;
  auto type_name = [&](uint64_t a) -> std::string {
    if (const TypeInfo* t = ctx.validated(a)) return t->name;
    return "?";
  };
  // Each chain read once: its types and where each object holds the next ("" for the target).
  std::vector<PathView> views;
  for (const auto& c : chains) views.push_back(read_path_view(ctx, c, false));
  std::vector<std::vector<std::string>> all_edges;
  for (const auto& v : views) {
    all_edges.emplace_back();
    for (const auto& step : v.steps) all_edges.back().push_back(step.edge);
  }
  // "__main__.HOLDER -> list [0] -> dict ['target'] -> object"
  auto chain_text = [&](const HeapPath& c, const std::vector<std::string>& edges) {
    std::string s = c.root.legacy;
    for (std::size_t i = 0; i < c.objects.size(); ++i) {
      s += " -> " + type_name(c.objects[i]);
      if (!edges[i].empty()) s += " " + edges[i];
    }
    return s;
  };
  std::string dot_note;
  if (dot) {
    std::vector<PathView> with_reprs;
    for (const auto& c : chains) with_reprs.push_back(read_path_view(ctx, c, true));
    if (auto w = dot->write(paths_dot(with_reprs)); !w) return Unexpected<Error>{w.error()};
    dot_note = fmt::format("The graph is in {} (Graphviz: dot -Tsvg).\n", *dot_path);
  }
  if (args.has("--json")) {
    json j;
    add_name_json(j, arg);
    j["address"] = target;
    j["type"] = target_type->name;
    json d = json::array();
    for (uint64_t a : direct) d.push_back({{"address", a}, {"type", type_name(a)}});
    j["referrers"] = heap_walked ? std::move(d) : json(nullptr);  // null: not searched
    json cs = json::array();
    for (std::size_t k = 0; k < chains.size(); ++k) {
      const HeapPath& c = chains[k];
      const auto& edges = all_edges[k];
      json path = json::array();
      for (std::size_t i = 0; i < c.objects.size(); ++i) {
        json step = {{"address", c.objects[i]}, {"type", type_name(c.objects[i])}};
        // Where this object holds the next one; null for the target and where the layout is not modelled.
        step["edge"] = edges[i].empty() ? json(nullptr) : json(edges[i]);
        path.push_back(std::move(step));
      }
      json chain = {{"root", c.root.legacy},
                    {"kind", root_kind_name(c.root.kind)},
                    {"chain", chain_text(c, edges)},
                    {"path", std::move(path)}};
      if (as_path) {
        chain["expression"] = path_expression(views[k]);
        chain["root"] = path_root_json(c.root);
      }
      cs.push_back(std::move(chain));
    }
    j["chains"] = std::move(cs);
    j["depth"] = depth;
    if (dot) j["dot"] = *dot_path;
    j["warnings"] = warnings;
    return json_line(j);
  }
  std::string out =
      !heap_walked
          ? fmt::format("{}0x{:x} ({}): direct referrers not searched (the heap is not walked)\n", named_prefix(arg),
                        target, target_type->name)
          : fmt::format("{}0x{:x} ({}): {} direct referrer{}\n", named_prefix(arg), target, target_type->name,
                        direct.size() >= kMaxDirect ? fmt::format("{}+", kMaxDirect) : std::to_string(direct.size()),
                        direct.size() == 1 ? "" : "s");
  const std::string roots_said = as_path ? "a root" : "a module global or a frame local";
  if (as_path) {
    // One line per chain and nothing else: the line is the answer (addresses are in --json).
    out.clear();
    for (std::size_t k = 0; k < chains.size(); ++k) out += path_expression(views[k]) + "\n";
  } else {
    for (uint64_t a : direct) out += fmt::format("  0x{:x} {}\n", a, type_name(a));
  }
  if (chains.empty()) {
    out += found.interrupted
               ? fmt::format("no chain to {} found before the search was {} (step {})\n", roots_said,
                             interrupt_phrase(), depth + 1)
               : fmt::format("no chain to {} within {} step{}\n", roots_said, depth, depth == 1 ? "" : "s");
  } else if (!as_path) {
    out += "held by:\n";
    for (std::size_t k = 0; k < chains.size(); ++k) {
      const HeapPath& c = chains[k];
      out += "  " + chain_text(c, all_edges[k]) + "\n";
      std::string addrs;
      for (uint64_t a : c.objects) addrs += fmt::format("{}0x{:x}", addrs.empty() ? "" : " -> ", a);
      out += "    " + addrs + "\n";
    }
  }
  out += dot_note;
  out += warnings_text(warnings);
  return out;
}

}  // namespace

std::vector<CommandDef> heap_commands() {
  return {
      {{"py-heap-summary", "Count the live objects by type, with their sizes",
        "Usage: py-heap-summary [--limit N] [--sort bytes|count] [--generations] [--save FILE [--objects]]\n"
        "                       [--json]\n"
        "Walk every live object (pymalloc's arenas, the GC lists, and what they reference) and print a\n"
        "table of types by total size: Index, Count, % of objects, Size (sys.getsizeof bytes), % of\n"
        "bytes, cumulative %, the largest one, and the type (module.Class for classes). --limit shows\n"
        "the first N types (default 30); --json prints every type:\n"
        "{\"objects\": N, \"bytes\": B, \"types\": [{\"type\": ..., \"count\": ..., \"bytes\": ..., \"max\": ...}, "
        "...]}.\n"
        "--generations adds, per type, how many of its objects are in each GC generation (gen0, gen1,\n"
        "gen2, permanent after gc.freeze(); 3.14.0-3.14.4: young, old-visited, old-pending), and in\n"
        "JSON \"generations\": {\"untracked\": N, \"gen0\": N, ...} per type and in total.\n"
        "--save FILE also writes the table as a heap snapshot that py-heap-diff compares later (with\n"
        "--objects, every object's address, type, size and GC generation too)."},
       {{"--json", false, "print one JSON object instead of text"},
        {"--generations", false, "count each type's objects per GC generation"},
        {"--limit", true, "show the N largest types (default 30)"},
        {"--save", true, "write a heap snapshot to FILE, for py-heap-diff"},
        {"--objects", false, "with --save: every object's address, type, size and generation too"},
        {"--sort", true, "order types by bytes (default) or count"}},
       0,
       run_summary},
      {{"py-sizeof", "Print an object's size (sys.getsizeof), and with --deep what it holds",
        "Usage: py-sizeof NAME|ADDRESS [--deep] [--json]\n"
        "Print sys.getsizeof() of NAME as the selected Python frame sees it (a local, then a global, then a\n"
        "builtin) or of the object at ADDRESS, as its own interpreter would compute it. --deep\n"
        "adds the objects it references, recursively (each once), like gc.get_referents() plus dict\n"
        "keys, without entering types, modules or functions."},
       {{"--json", false, "print one JSON object instead of text"},
        {"--deep", false, "also the total over everything the object references"}},
       1,
       run_sizeof},
      {{"py-biggest", "List the largest live objects",
        "Usage: py-biggest [N] [--type NAME] [--deep] [--json]\n"
        "Walk every live object and print the N largest (default 10) with their size, address, type and a\n"
        "short repr. --type keeps only objects of one type (\"bytes\", \"__main__.Leaky\").\n"
        "--deep ranks containers by deep size (py-sizeof --deep's rule) instead: every module global, every\n"
        "class attribute of a class a module defines, every frame local, and the 4N largest objects, each\n"
        "row naming the root it came from (sys.modules['app'].CACHE); all the deep sizes together visit at\n"
        "most the deep-visits limit of objects."},
       {{"--json", false, "print one JSON object instead of text"},
        {"--type", true, "only objects of this type"},
        {"--deep", false, "rank the containers a name reaches by their deep size"}},
       1,
       run_biggest},
      {{"py-referrers", "Show what holds an object, back to a module global or a frame local",
        "Usage: py-referrers NAME|ADDRESS [--depth K] [--path [--dot FILE]] [--json]\n"
        "Print the objects that refer to NAME (as py-print finds it) or to the object at ADDRESS, and the\n"
        "shortest chains that lead to it, each step labelled with where the reference sits ([3], ['key'], .attr),\n"
        "from a root: a module global (module.name) or a thread's frame local. Each step of the search is\n"
        "one walk of the heap; --depth bounds the steps (default 12).\n"
        "--path prints each chain as one line of Python, from more roots (class attributes, interned\n"
        "strings too, and gc.freeze()d objects when nothing else holds it):\n"
        "sys.modules['app'].CACHE['k'] -> list[3] -> <app.Widget 0x7f...>. --dot FILE also writes the\n"
        "chains as a Graphviz graph (the object in red)."},
       {{"--json", false, "print one JSON object instead of text"},
        {"--depth", true, "search at most K referrer steps back (default 12)"},
        {"--path", false,
         "one line of Python per chain, from module globals, frame locals, class attributes, interned strings"},
        {"--dot", true, "with --path: also write the chains to FILE for Graphviz"}},
       1,
       run_referrers},
  };
}

}  // namespace pyxray
