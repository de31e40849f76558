// py-heap-diff: what changed between heap snapshots (py-heap-summary --save), or between a snapshot
// and the process now, type by type, largest growth first (objgraph's show_growth), and with three
// or more snapshots the types that grew every time (leak suspects).
#include <algorithm>
#include <cstdlib>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/json_text.hpp"
#include "base/thousands.hpp"
#include "commands/commands.hpp"
#include "heap/heap_context.hpp"
#include "heap/heap_diff.hpp"
#include "heap/heap_paths.hpp"
#include "heap/snapshot_builder.hpp"
#include "interp/python_process.hpp"
#include "report/render_paths.hpp"

namespace pyxray {
namespace {

using json = nlohmann::ordered_json;

constexpr long long kDefaultLimit = 10;
constexpr std::size_t kMaxSnapshots = 64;

std::string signed_text(int64_t v) {
  const std::string digits = thousands(static_cast<uint64_t>(v < 0 ? -v : v));
  return (v < 0 ? "-" : "+") + digits;
}

// "18:59:01" of "2026-12-07T18:59:01Z".
std::string clock_of(const std::string& taken_at) { return taken_at.size() >= 19 ? taken_at.substr(11, 8) : taken_at; }

json row_json(const DiffRow& r, bool with_key) {
  json j;
  if (with_key) {
    j["type"] = r.name;
    j["module"] = r.module;
    j["qualname"] = r.qualname;
  }
  j["count_old"] = r.count_old;
  j["count_new"] = r.count_new;
  j["count_delta"] = r.count_delta;
  j["bytes_old"] = r.bytes_old;
  j["bytes_new"] = r.bytes_new;
  j["bytes_delta"] = r.bytes_delta;
  return j;
}

json suspect_json(const DiffRow& r) {
  json j = {{"type", r.name}, {"counts", r.counts}};
  if (!r.generations.empty()) {
    json g = json::object();
    for (const auto& [name, n] : r.generations) g[name] = n;
    j["generations"] = std::move(g);
  }
  if (r.sample) {
    json s = {{"address", r.sample}, {"new", r.sample_is_new}};
    if (!r.sample_generation.empty()) s["generation"] = r.sample_generation;
    j["sample"] = std::move(s);
  }
  return j;
}

// "  in gen2 3,570, gen0 9; e.g. 0x7f3a... (gen2, new since the first snapshot)"
std::string suspect_detail(const DiffRow& r) {
  std::string s;
  for (const auto& [name, n] : r.generations)
    if (n && name != "untracked") s += fmt::format("{}{} {}", s.empty() ? "in " : ", ", name, thousands(n));
  if (r.sample) {
    std::string why = r.sample_generation;
    if (r.sample_is_new) why += std::string(why.empty() ? "" : ", ") + "new since the first snapshot";
    s += fmt::format("{}e.g. 0x{:x}{}", s.empty() ? "" : "; ", r.sample, why.empty() ? "" : " (" + why + ")");
  }
  return s;
}

// A suspect's sample object, followed back to a root in the process the debugger has.
struct SuspectPath {
  std::string expression;  // as py-referrers --path prints it; "" when no chain was found
  json root;
  std::string why_not;  // when the sample could not be followed
};

// --paths: one search for every suspect's sample together (find_paths takes many targets). The
// samples are addresses in the newest snapshot, so that snapshot must be of the process the debugger
// has now; a sample whose object is no longer of its type (freed since) says so.
Expected<std::vector<SuspectPath>> suspect_paths(Session& session, const HeapDiff& d, const ProcessIdentity& newest,
                                                 const std::string& newest_label) {
  std::vector<SuspectPath> out(d.suspects.size());
  PYX_TRY(proc, session.process());
  if (!same_process(newest, process_identity(proc->target())).same)
    return fail(
        fmt::format("--paths: {} is not a snapshot of the process the debugger has: its objects cannot be "
                    "followed (add --now)",
                    newest_label));
  HeapContext ctx(*proc);
  std::vector<uint64_t> targets;
  std::vector<std::size_t> suspect_of;  // target index -> suspect index
  for (std::size_t i = 0; i < d.suspects.size(); ++i) {
    const DiffRow& r = d.suspects[i];
    if (!r.sample) {
      out[i].why_not = "no sample: the newest snapshot does not list its objects (--objects)";
      continue;
    }
    const TypeInfo* t = ctx.validated(r.sample);
    if (!t || t->module != r.module || t->qualname != r.qualname) {
      out[i].why_not = fmt::format("its sample 0x{:x} is no longer a {}", r.sample, r.name);
      continue;
    }
    targets.push_back(r.sample);
    suspect_of.push_back(i);
  }
  if (targets.empty()) return out;
  PathSearch search;
  search.max_chains = 1;
  search.more_roots = true;
  PYX_TRY(found, find_paths(ctx, targets, search));
  for (const HeapPath& c : found.chains) {
    SuspectPath& p = out[suspect_of[c.target]];
    if (!p.expression.empty()) continue;
    p.expression = path_expression(read_path_view(ctx, c, false));
    p.root = path_root_json(c.root);
  }
  for (std::size_t k = 0; k < targets.size(); ++k) {
    SuspectPath& p = out[suspect_of[k]];
    if (p.expression.empty())
      p.why_not = fmt::format("no chain from a root to its sample 0x{:x} within {} steps", targets[k], found.depth);
  }
  return out;
}

struct Named {
  std::string label;  // the file, or "now"
  HeapSnapshot snapshot;
};

Expected<std::string> run_diff(Session& session, const ParsedArgs& args) {
  if (args.positional.empty()) return fail("py-heap-diff wants one snapshot file or more (see 'help py-heap-diff')");
  long long limit = kDefaultLimit;
  if (auto v = args.value("--limit")) {
    PYX_TRY(n, parse_count("--limit", *v, 1, 1'000'000));
    limit = n;
  }
  // Every file is read (and judged) before anything is walked.
  std::vector<Named> snaps;
  for (const auto& path : args.positional) {
    PYX_TRY(s, read_snapshot_file(path));
    snaps.push_back({path, std::move(s)});
  }
  std::vector<std::string> notes, warnings;
  const bool with_now = snaps.size() == 1 || args.has("--now");
  if (with_now) {
    PYX_TRY(proc, session.process());
    const ProcessIdentity now = process_identity(proc->target());
    const std::string version = proc->version().text();
    // A snapshot compared with the process now must be of this process and this Python: said
    // before the walk, which could take seconds.
    for (const auto& n : snaps) {
      const SameProcess same = same_process(n.snapshot.process, now);
      if (!same.same)
        return fail(
            fmt::format("{} is a snapshot of {}, not of {}: compare it with another snapshot of its own "
                        "process (py-heap-diff OLD NEW)",
                        n.label, describe(n.snapshot.process), describe(now)));
      if (n.snapshot.python_version != version)
        return fail(fmt::format("{} is a snapshot of CPython {}, but the process runs CPython {}", n.label,
                                n.snapshot.python_version, version));
    }
    // Suspects (three snapshots or more) want a sample object from the newest: the process now.
    PYX_TRY(s, take_snapshot(*proc, /*objects=*/snaps.size() >= 2));
    snaps.push_back({"now", std::move(s)});
  }
  // Between files, a different process or Python is allowed (the same program run twice) but said.
  bool same_proc = true, same_python = true, certain = true;
  for (std::size_t i = 1; i < snaps.size(); ++i) {
    const auto& a = snaps.front();
    const auto& b = snaps[i];
    const SameProcess same = same_process(a.snapshot.process, b.snapshot.process);
    certain = certain && same.certain;
    if (!same.same && same_proc) {
      same_proc = false;
      notes.push_back(fmt::format("{} is {}, {} is {}: comparing different processes, type by type", a.label,
                                  describe(a.snapshot.process), b.label, describe(b.snapshot.process)));
    }
    if (a.snapshot.python_version != b.snapshot.python_version && same_python) {
      same_python = false;
      notes.push_back(fmt::format("{} is of CPython {}, {} of CPython {}: comparing different Pythons", a.label,
                                  a.snapshot.python_version, b.label, b.snapshot.python_version));
    }
    if (b.snapshot.time < snaps[i - 1].snapshot.time)
      notes.push_back(fmt::format("{} was taken before {}: the changes are from the first given to the last", b.label,
                                  snaps[i - 1].label));
  }
  for (const auto& n : snaps) {
    if (n.snapshot.partial)
      warnings.push_back(fmt::format("{} is of a partial heap walk: its counts may be low", n.label));
  }
  std::vector<const HeapSnapshot*> ptrs;
  for (const auto& n : snaps) ptrs.push_back(&n.snapshot);
  const HeapDiff d = diff_snapshots(ptrs);
  std::vector<SuspectPath> paths;
  if (args.has("--paths") && !d.suspects.empty()) {
    PYX_TRY(found, suspect_paths(session, d, snaps.back().snapshot.process, snaps.back().label));
    paths = std::move(found);
  }
  const Named& first = snaps.front();
  const Named& last = snaps.back();
  const double interval = last.snapshot.time - first.snapshot.time;

  if (args.has("--json")) {
    json j;
    json types = json::array();
    for (const auto& r : d.rows) {
      json row = row_json(r, true);
      if (snaps.size() >= 3) row["suspect"] = r.suspect;
      if (r.classes > 1) row["classes"] = r.classes;
      types.push_back(std::move(row));
    }
    j["types"] = std::move(types);
    j["total"] = row_json(d.total, false);
    json list = json::array();
    for (const auto& n : snaps)
      list.push_back({{"file", n.label},
                      {"taken_at", n.snapshot.taken_at},
                      {"source", n.snapshot.process.source},
                      {"pid", n.snapshot.process.pid},
                      {"python", n.snapshot.python_version},
                      {"objects", n.snapshot.objects},
                      {"bytes", n.snapshot.bytes},
                      {"partial", n.snapshot.partial}});
    j["snapshots"] = std::move(list);
    j["seconds"] = interval;
    j["same_process"] = same_proc;
    if (same_proc && !certain) j["same_process_certain"] = false;
    j["same_python"] = same_python;
    if (snaps.size() >= 3) {
      json sus = json::array();
      for (std::size_t i = 0; i < d.suspects.size(); ++i) {
        json s = suspect_json(d.suspects[i]);
        if (i < paths.size()) {
          s["path"] = paths[i].expression.empty() ? json(nullptr)
                                                  : json{{"expression", paths[i].expression}, {"root", paths[i].root}};
          if (!paths[i].why_not.empty()) s["path_missing"] = paths[i].why_not;
        }
        sus.push_back(std::move(s));
      }
      j["suspects"] = std::move(sus);
    }
    j["notes"] = notes;
    j["warnings"] = warnings;
    return json_line(j);
  }

  std::string out;
  // The notes come first: a diff of two processes must not be read as one process's growth.
  for (const auto& n : notes) out += fmt::format("pyxray: note: {}\n", n);
  std::vector<const DiffRow*> shown;
  std::size_t more = 0;
  for (const auto& r : d.rows) {
    if (!args.has("--all") && r.count_delta <= 0) continue;
    if (shown.size() < static_cast<std::size_t>(limit)) shown.push_back(&r);
    else ++more;
  }
  std::size_t wn = 5, wc = 5, wd = 6;
  for (const DiffRow* r : shown) {
    wn = std::max(wn, r->name.size());
    wc = std::max(wc, thousands(r->count_new).size());
    wd = std::max(wd, signed_text(r->count_delta).size());
  }
  wc = std::max(wc, thousands(d.total.count_new).size());
  wd = std::max(wd, signed_text(d.total.count_delta).size());
  if (shown.empty()) {
    out += args.has("--all") ? "no type changed\n" : "no type grew\n";
  } else {
    out += fmt::format("{:<{}}  {:>{}}  {:>{}}  {}\n", "Type", wn, "Count", wc, "Change", wd, "Bytes change");
    for (const DiffRow* r : shown)
      out += fmt::format("{:<{}}  {:>{}}  {:>{}}  {}{}\n", r->name, wn, thousands(r->count_new), wc,
                         signed_text(r->count_delta), wd, signed_text(r->bytes_delta),
                         r->suspect ? "  (grew every time)" : "");
  }
  if (more)
    out += fmt::format("  ... {} more types {} (--limit)\n", thousands(more), args.has("--all") ? "changed" : "grew");
  out += fmt::format("{:<{}}  {:>{}}  {:>{}}  {} bytes  ({} {} -> {} {}, {:.0f} s)\n", "total", wn,
                     thousands(d.total.count_new), wc, signed_text(d.total.count_delta), wd,
                     signed_text(d.total.bytes_delta), first.label, clock_of(first.snapshot.taken_at), last.label,
                     clock_of(last.snapshot.taken_at), interval);
  if (snaps.size() >= 3) {
    if (d.suspects.empty()) {
      out += fmt::format("no leak suspects: no type grew in each of the {} intervals\n", snaps.size() - 1);
    } else {
      out += fmt::format("leak suspects (the count grew in each of the {} intervals):\n", snaps.size() - 1);
      for (std::size_t i = 0; i < d.suspects.size(); ++i) {
        const DiffRow& r = d.suspects[i];
        std::string counts;
        for (uint64_t c : r.counts) counts += (counts.empty() ? "" : " -> ") + thousands(c);
        out += fmt::format("  {}  {}\n", r.name, counts);
        if (const std::string detail = suspect_detail(r); !detail.empty()) out += fmt::format("    {}\n", detail);
        if (i < paths.size())
          out += paths[i].expression.empty() ? fmt::format("    no path: {}\n", paths[i].why_not)
                                             : fmt::format("    held by {}\n", paths[i].expression);
      }
    }
  }
  for (const auto& w : warnings) out += fmt::format("pyxray: warning: {}\n", w);
  return out;
}

}  // namespace

std::vector<CommandDef> heap_diff_commands() {
  return {
      {{"py-heap-diff", "Compare heap snapshots: which types grew, and leak suspects",
        "Usage: py-heap-diff OLD [NEW ...] [--now] [--paths] [--limit N] [--all] [--json]\n"
        "Compare heap snapshots written by py-heap-summary --save: per type (matched by module and\n"
        "qualified name, never by address) the change in count and bytes from the first to the last,\n"
        "largest growth first, like objgraph's show_growth(), and the totals. With one file, compare it\n"
        "with the process now (it must be the same process and Python); --now adds the process now\n"
        "after several files. With three or more snapshots, types whose count grew between every pair\n"
        "are leak suspects, each with a sample object (when the newest snapshot lists objects) and with\n"
        "--paths that object's chain from a root, as py-referrers --path prints it. Text shows the\n"
        "types that grew (--all: every type that changed; --limit N, default 10); --json prints every\n"
        "changed type:\n"
        "{\"types\": [{\"type\", \"count_old\", \"count_new\", \"count_delta\", \"bytes_delta\", ...}], "
        "\"total\": {...}, \"snapshots\": [...], \"same_process\": ..., \"suspects\": [...]}."},
       {{"--json", false, "print one JSON object instead of text"},
        {"--now", false, "also compare with the process now, after the files"},
        {"--paths", false, "follow each leak suspect's sample object back to a root"},
        {"--all", false, "list every type that changed, not only those that grew"},
        {"--limit", true, "show at most N types (default 10)"}},
       kMaxSnapshots,
       run_diff},
  };
}

}  // namespace pyxray
