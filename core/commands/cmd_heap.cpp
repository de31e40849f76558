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
#include "heap/gc_generations.hpp"
#include "heap/heap_walk.hpp"
#include "heap/object_size.hpp"
#include "heap/referents.hpp"
#include "heap/snapshot_builder.hpp"
#include "interp/objects.hpp"
#include "interp/python_process.hpp"
#include "layout/version_traits.hpp"
#include "report/render_generations.hpp"
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

// Everything a heap command needs, for one command.
struct HeapContext {
  PythonProcess& proc;
  Objects objects;
  TypeCache types;
  ObjectSizer sizer;
  Referents refs;
  explicit HeapContext(PythonProcess& p) : proc(p), objects(p), types(p, objects), sizer(p, types), refs(p, types) {}

  // When the process goes away during the walk, py-heap-summary shows what was counted until then
  // (`counts_if_gone`); the others answer about particular objects, which can no longer be read.
  Expected<HeapWalkStats> walk(HeapWalkOptions opt, bool counts_if_gone = false) {
    // Walks of big heaps take seconds: say how far they got, on a terminal.
    TerminalProgress terminal;
    if (!opt.progress && terminal.enabled()) opt.progress = [&](std::string_view line) { terminal.show(line); };
    HeapWalker w(proc, objects, types, sizer, refs);
    auto stats = w.run(opt);
    if (stats && stats->target_gone && !counts_if_gone)
      return fail(process_gone_message(proc.target().pid(), " during the heap walk"));
    return stats;
  }

  // The object's type facts, or why it is not an object.
  Expected<const TypeInfo*> object_type(uint64_t addr) {
    auto type = check_object(proc, objects, addr);
    if (!type) return fail(fmt::format("0x{:x} is not a Python object: {}", addr, type.error().message));
    const TypeInfo* t = types.get(*type);
    if (!t) return fail(fmt::format("0x{:x} is not a Python object: its type does not validate", addr));
    return t;
  }

  // A referent worth following: a readable object with a plausible refcount and a valid type.
  const TypeInfo* validated(uint64_t addr) {
    if (!plausible_pointer(addr)) return nullptr;
    Memory& m = proc.mem();
    auto rc = read_refcount(m, proc.layout(), addr);
    if (!rc || *rc < 0 || !plausible_refcount(static_cast<uint64_t>(*rc), proc.traits().refcount_mask)) return nullptr;
    auto type = m.read_ptr(addr + proc.layout().object_ob_type);
    if (!type) return nullptr;
    return types.get(*type);
  }
};

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

struct DeepSize {
  uint64_t bytes = 0, objects = 0;
  bool partial = false;
  bool at_limit = false;         // stopped at the deep-objects limit
  bool interrupted = false;      // the user interrupted the command (core/base/interrupt.hpp)
  uint64_t unreadable = 0;       // objects that could not be sized, or whose references could not be read
  std::string first_unreadable;  // the first of them and why: "0x... (list): cannot read ..."
};

// "1 object", "2 objects", "1,024 objects".
std::string objects_text(uint64_t n) { return fmt::format("{} object{}", thousands(n), n == 1 ? "" : "s"); }

// Why a deep size is partial, in words: the limit it stopped at and/or the memory it could not read.
std::string partial_reason(const DeepSize& d) {
  std::vector<std::string> why;
  if (d.interrupted) why.push_back(interrupt_phrase());
  if (d.at_limit)
    why.push_back(fmt::format("stopped at {} ({})", objects_text(static_cast<uint64_t>(limits().deep_objects)),
                              raise_hint("deep-objects")));
  if (d.unreadable)
    why.push_back(fmt::format("{} could not be read{}", objects_text(d.unreadable),
                              d.unreadable == 1 ? fmt::format(": {}", d.first_unreadable)
                                                : fmt::format(", the first {}", d.first_unreadable)));
  std::string s;
  for (const auto& w : why) s += (s.empty() ? "" : "; ") + w;
  return s;
}

bool skipped_in_deep(const TypeInfo& t) {
  return t.kind == BaseKind::Type || t.kind == BaseKind::Module || t.kind == BaseKind::Function;
}

DeepSize deep_size(HeapContext& ctx, uint64_t root) {
  DeepSize d;
  std::unordered_set<uint64_t> seen{root};
  std::vector<uint64_t> stack{root};
  while (!stack.empty()) {
    if (interrupt_requested()) {
      d.partial = d.interrupted = true;
      break;
    }
    if (d.objects >= static_cast<uint64_t>(limits().deep_objects)) {  // more to see, and no room left
      d.partial = d.at_limit = true;
      break;
    }
    uint64_t a = stack.back();
    stack.pop_back();
    auto note_unreadable = [&](const std::string& why) {
      if (d.unreadable++ == 0) {
        const TypeInfo* t = ctx.validated(a);
        d.first_unreadable = fmt::format("0x{:x} ({}): {}", a, t ? t->name : "?", why);
      }
      d.partial = true;
    };
    auto size = ctx.sizer.getsizeof(a);
    if (!size) {
      note_unreadable(size.error().message);
      continue;
    }
    d.bytes += *size;
    ++d.objects;
    auto r = ctx.refs.all_refs(a, RefMode::Traverse, [&](uint64_t ref) {
      // One object may hold millions of references (a big list): Ctrl-C must not wait for them all.
      if (d.interrupted || (d.interrupted = interrupt_requested())) return;
      if (seen.contains(ref)) return;
      const TypeInfo* t = ctx.validated(ref);
      if (!t || skipped_in_deep(*t)) return;
      seen.insert(ref);
      stack.push_back(ref);
    });
    if (!r) note_unreadable(r.error().message);
  }
  return d;
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

// --- py-biggest ---

Expected<std::string> run_biggest(Session& session, const ParsedArgs& args) {
  long long n = kDefaultBiggest;
  if (!args.positional.empty()) {
    PYX_TRY(v, parse_count("N", args.positional[0], 1, 100'000));
    n = v;
  }
  std::optional<std::string> type_filter = args.value("--type");
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

struct Chain {
  std::string root;            // "__main__.HOLDER", "thread 1234 frame main: x"
  std::string kind;            // "global" or "local"
  std::vector<uint64_t> path;  // the root's object first, the target last
};

// Where `holder` keeps its reference to `held`, as Python would reach it: "[3]" (a list or tuple
// item), "['key']" (a dict value, the key's repr bounded), "(key)" (a dict key), "(member)" (a set's),
// ".name" (an instance attribute or slot), ".__dict__", ".cell_contents"; "" when the holder's layout
// is not modelled (the heap walk scanned it for pointers).
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
      ReprLimits key_limits;
      key_limits.max_depth = 1;
      key_limits.max_items = 4;
      key_limits.max_string = 40;
      key_limits.max_output = 80;
      (void)ctx.objects.dict_items(holder, [&](uint64_t k, uint64_t v) {
        if (v == held) label = "[" + safe_repr(proc, ctx.objects, k, key_limits) + "]";
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

Expected<std::string> run_referrers(Session& session, const ParsedArgs& args) {
  if (args.positional.empty()) return fail("py-referrers wants a NAME or an ADDRESS (see help py-referrers)");
  PYX_TRY(arg, object_arg(session, args.positional[0]));
  const uint64_t target = arg.address;
  PYX_TRY(depth_limit, count_arg(args, "--depth", kDefaultDepth, 1, 1000));
  PYX_TRY(proc, session.process());
  HeapContext ctx(*proc);
  PYX_TRY(target_type, ctx.object_type(target));
  HeapRoots roots = heap_roots(*proc, ctx.objects);
  std::unordered_multimap<uint64_t, std::string> local_roots;
  for (const auto& l : roots.frame_locals) local_roots.emplace(l.value, l.label);

  std::unordered_map<uint64_t, uint64_t> toward;  // referrer -> the object it holds, one step closer
  std::unordered_set<uint64_t> visited{target};
  std::unordered_set<uint64_t> frontier{target};
  std::vector<Chain> chains;
  std::vector<uint64_t> direct;
  std::vector<std::string> warnings = roots.warnings;
  // A heap pyxray does not walk: only the frames' locals are searched, and nothing is a direct referrer.
  const bool heap_walked = !proc->traits().mimalloc_heap;
  if (!heap_walked)
    warnings.insert(warnings.begin(), fmt::format("{}: only frame locals are searched", kMimallocHeapNotWalked));
  HeapWalkStats last;
  int depth = 0;
  bool truncated = false;
  auto path_from = [&](uint64_t x) {
    std::vector<uint64_t> p{x};
    while (p.back() != target && p.size() < 10000) {
      auto it = toward.find(p.back());
      if (it == toward.end()) break;
      p.push_back(it->second);
    }
    return p;
  };
  while (depth < depth_limit && !frontier.empty()) {
    for (uint64_t x : frontier) {
      auto [b, e] = local_roots.equal_range(x);
      for (auto it = b; it != e && chains.size() < kMaxChains; ++it)
        chains.push_back({it->second, "local", path_from(x)});
    }
    if (!chains.empty() || !heap_walked) break;
    std::vector<std::pair<uint64_t, uint64_t>> edges;
    HeapWalkOptions opt;
    opt.edge_targets = &frontier;
    opt.on_edge = [&](uint64_t src, uint64_t dst) {
      if (src) edges.emplace_back(src, dst);
    };
    PYX_TRY(stats, ctx.walk(opt));
    last = stats;
    if (stats.interrupted) break;  // its warning says so; the chains found so far stand
    ++depth;
    std::sort(edges.begin(), edges.end());
    edges.erase(std::unique(edges.begin(), edges.end()), edges.end());
    std::unordered_set<uint64_t> next;
    for (const auto& edge : edges) {
      // Not a structured binding: clang 14 (the fuzzing build) cannot capture one in a lambda.
      const uint64_t src = edge.first, dst = edge.second;
      if (depth == 1 && direct.size() < kMaxDirect && std::find(direct.begin(), direct.end(), src) == direct.end())
        direct.push_back(src);
      if (auto m = roots.module_dicts.find(src); m != roots.module_dicts.end()) {
        if (chains.size() >= kMaxChains) continue;
        std::string key = "?";
        (void)ctx.objects.dict_items(src, [&](uint64_t k, uint64_t v) {
          if (v != dst) return true;
          key = ctx.objects.read_text(k, 200).value_or("?");
          return false;
        });
        chains.push_back({fmt::format("{}.{}", m->second, key), "global", path_from(dst)});
        continue;
      }
      if (visited.contains(src)) continue;
      if (next.size() >= static_cast<std::size_t>(limits().referrer_frontier)) {
        truncated = true;
        continue;
      }
      visited.insert(src);
      toward.emplace(src, dst);
      next.insert(src);
    }
    if (!chains.empty()) break;
    frontier = std::move(next);
  }
  if (truncated)
    warnings.push_back(fmt::format("more than {} referrers at one level: some were not followed ({})",
                                   limits().referrer_frontier, raise_hint("referrer-frontier")));
  for (const auto& w : last.warnings) warnings.push_back(w);
  auto type_name = [&](uint64_t a) -> std::string {
    if (const TypeInfo* t = ctx.validated(a)) return t->name;
    return "?";
  };
  // The label of each step: where path[i] holds path[i + 1] ("" for the target itself).
  auto chain_edges = [&](const Chain& c) {
    std::vector<std::string> edges;
    for (std::size_t i = 0; i < c.path.size(); ++i)
      edges.push_back(i + 1 < c.path.size() ? edge_label(ctx, c.path[i], c.path[i + 1]) : "");
    return edges;
  };
  // "__main__.HOLDER -> list [0] -> dict ['target'] -> object"
  auto chain_text = [&](const Chain& c, const std::vector<std::string>& edges) {
    std::string s = c.root;
    for (std::size_t i = 0; i < c.path.size(); ++i) {
      s += " -> " + type_name(c.path[i]);
      if (!edges[i].empty()) s += " " + edges[i];
    }
    return s;
  };
  if (args.has("--json")) {
    json j;
    add_name_json(j, arg);
    j["address"] = target;
    j["type"] = target_type->name;
    json d = json::array();
    for (uint64_t a : direct) d.push_back({{"address", a}, {"type", type_name(a)}});
    j["referrers"] = heap_walked ? std::move(d) : json(nullptr);  // null: not searched
    json cs = json::array();
    for (const auto& c : chains) {
      const auto edges = chain_edges(c);
      json path = json::array();
      for (std::size_t i = 0; i < c.path.size(); ++i) {
        json step = {{"address", c.path[i]}, {"type", type_name(c.path[i])}};
        // Where this object holds the next one; null for the target and where the layout is not modelled.
        step["edge"] = edges[i].empty() ? json(nullptr) : json(edges[i]);
        path.push_back(std::move(step));
      }
      cs.push_back({{"root", c.root}, {"kind", c.kind}, {"chain", chain_text(c, edges)}, {"path", std::move(path)}});
    }
    j["chains"] = std::move(cs);
    j["depth"] = depth;
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
  for (uint64_t a : direct) out += fmt::format("  0x{:x} {}\n", a, type_name(a));
  if (chains.empty()) {
    out += last.interrupted
               ? fmt::format("no chain to a module global or a frame local found before the search was {} (step {})\n",
                             interrupt_phrase(), depth + 1)
               : fmt::format("no chain to a module global or a frame local within {} step{}\n", depth,
                             depth == 1 ? "" : "s");
  } else {
    out += "held by:\n";
    for (const auto& c : chains) {
      out += "  " + chain_text(c, chain_edges(c)) + "\n";
      std::string addrs;
      for (uint64_t a : c.path) addrs += fmt::format("{}0x{:x}", addrs.empty() ? "" : " -> ", a);
      out += "    " + addrs + "\n";
    }
  }
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
        "Usage: py-biggest [N] [--type NAME] [--json]\n"
        "Walk every live object and print the N largest (default 10) with their size, address, type and a\n"
        "short repr. --type keeps only objects of one type (\"bytes\", \"__main__.Leaky\")."},
       {{"--json", false, "print one JSON object instead of text"}, {"--type", true, "only objects of this type"}},
       1,
       run_biggest},
      {{"py-referrers", "Show what holds an object, back to a module global or a frame local",
        "Usage: py-referrers NAME|ADDRESS [--depth K] [--json]\n"
        "Print the objects that refer to NAME (as py-print finds it) or to the object at ADDRESS, and the\n"
        "shortest chains that lead to it, each step labelled with where the reference sits ([3], ['key'], .attr),\n"
        "from a root: a module global (module.name) or a thread's frame local. Each step of the search is\n"
        "one walk of the heap; --depth bounds the steps (default 12)."},
       {{"--json", false, "print one JSON object instead of text"},
        {"--depth", true, "search at most K referrer steps back (default 12)"}},
       1,
       run_referrers},
  };
}

}  // namespace pyxray
