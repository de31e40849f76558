// py-arenas: pymalloc's and glibc malloc's view of the heap, and where the memory of deleted objects
// went ("I deleted it but RSS did not go down").
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "base/json_text.hpp"
#include "base/thousands.hpp"
#include "commands/commands.hpp"
#include "heap/glibc_malloc.hpp"
#include "heap/pymalloc.hpp"
#include "interp/python_process.hpp"
#include "interp/threads.hpp"

namespace pyxray {
namespace {

using ojson = nlohmann::ordered_json;

// One line as _debugmallocstats' printone() prints it: the label padded to 35 columns, '=', the
// value with thousands separators right-aligned in 21 columns.
std::string printone(const std::string& label, uint64_t value) {
  return fmt::format("{:<35}={:>21}\n", label, thousands(value));
}

std::string pymalloc_text(const PythonProcess& proc, const PymallocStats& s) {
  std::string out =
      fmt::format("pymalloc (CPython {}, allocator {}; {})\n", proc.version().text(), s.allocator, s.where);
  out +=
      fmt::format("Small block threshold = {}, in {} size classes.\n\n", s.small_request_threshold, s.size_class_count);
  out +=
      "class   size   num pools   blocks in use  avail blocks\n"
      "-----   ----   ---------   -------------  ------------\n";
  for (const auto& c : s.classes)
    out += fmt::format("{:>5} {:>6} {:>11} {:>15} {:>13}\n", c.index, c.size, c.pools, c.blocks_in_use,
                       c.blocks_available);
  out += "\n";
  if (s.arenas_allocated_total) {
    out += printone("# arenas allocated total", *s.arenas_allocated_total);
    out += printone("# arenas reclaimed", *s.arenas_allocated_total - s.arenas);
  }
  if (s.arenas_highwater) out += printone("# arenas highwater mark", *s.arenas_highwater);
  out += printone("# arenas allocated current", s.arenas);
  out += printone(fmt::format("{} arenas * {} bytes/arena", s.arenas, s.arena_size), s.arenas * s.arena_size);
  out += "\n";
  out += printone("# bytes in allocated blocks", s.bytes_in_allocated_blocks);
  out += printone("# bytes in available blocks", s.bytes_in_available_blocks);
  out += printone(fmt::format("{} unused pools * {} bytes", s.unused_pools, s.pool_size), s.bytes_in_unused_pools);
  out += printone("# bytes lost to pool headers", s.bytes_lost_to_pool_headers);
  out += printone("# bytes lost to quantization", s.bytes_lost_to_quantization);
  out += printone("# bytes lost to arena alignment", s.bytes_lost_to_arena_alignment);
  out += printone("Total", s.total);
  for (const auto& w : s.warnings) out += fmt::format("warning: {}\n", w);
  return out;
}

std::string glibc_text(const GlibcStats& g) {
  std::string out = fmt::format("glibc malloc: {} arena{}, {} bytes from the system\n", g.arenas.size(),
                                g.arenas.size() == 1 ? "" : "s", thousands(g.system_bytes()));
  out += fmt::format("{:<20} {:>15} {:>15} {:>15} {:>13} {:>10} {:>10}\n", "arena", "system", "in use", "free", "top",
                     "fast (n)", "bins (n)");
  uint64_t fast = 0, bins = 0;
  for (const auto& a : g.arenas) {
    out += fmt::format("{:<20} {:>15} {:>15} {:>15} {:>13} {:>10} {:>10}\n",
                       a.main ? "main" : fmt::format("0x{:x}", a.address), thousands(a.system_bytes),
                       thousands(a.in_use_bytes()), thousands(a.free_bytes()), thousands(a.top_bytes),
                       g.fastbins ? std::to_string(a.fastbin_chunks) : "-", a.bin_chunks);
    fast += a.fastbin_chunks;
    bins += a.bin_chunks;
  }
  out += fmt::format("{:<20} {:>15} {:>15} {:>15} {:>13} {:>10} {:>10}\n", "total", thousands(g.system_bytes()),
                     thousands(g.in_use_bytes()), thousands(g.free_bytes()), thousands(g.top_bytes()),
                     g.fastbins ? std::to_string(fast) : "-", bins);
  out += fmt::format("mmapped chunks: {} region{}, {} bytes (peak {} regions, {} bytes)\n", g.mmapped_regions,
                     g.mmapped_regions == 1 ? "" : "s", thousands(g.mmapped_bytes), g.max_mmapped_regions,
                     thousands(g.max_mmapped_bytes));
  out += "(chunks cached in the per-thread tcache count as in use, as mallinfo() counts them";
  out += g.fastbins ? ")\n" : "; this glibc has no fastbins)\n";
  for (const auto& w : g.warnings) out += fmt::format("warning: {}\n", w);
  return out;
}

// Resident set of a live local process, from /proc (nothing for a core or a remote target).
std::optional<uint64_t> rss_bytes(Target& t) {
  if (!t.is_live_local() || t.pid() <= 0) return std::nullopt;
  std::ifstream in(fmt::format("/proc/{}/status", t.pid()));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) != 0) continue;
    std::istringstream fields(line.substr(6));
    uint64_t kb = 0;
    if (fields >> kb) return kb * 1024;
  }
  return std::nullopt;
}

uint64_t pymalloc_free(const PymallocStats& s) { return s.bytes_in_available_blocks + s.bytes_in_unused_pools; }

std::optional<uint64_t> pymalloc_returned(const PymallocStats& s) {
  if (!s.arenas_allocated_total || *s.arenas_allocated_total < s.arenas) return std::nullopt;
  return (*s.arenas_allocated_total - s.arenas) * s.arena_size;
}

uint64_t glibc_heap_returned(const GlibcStats& g) {
  uint64_t n = 0;
  for (const auto& a : g.arenas)
    if (a.max_system_bytes > a.system_bytes) n += a.max_system_bytes - a.system_bytes;
  return n;
}

std::string rss_text(const Expected<PymallocStats>& py, const Expected<GlibcStats>& gl, std::optional<uint64_t> rss) {
  std::string out = "Why RSS does not go down when objects are deleted\n";
  if (py) {
    const auto& s = *py;
    out += fmt::format(
        "  free inside pymalloc: {:>15} bytes ({} in available blocks of used pools + {} in {} unused "
        "pools), kept for objects of at most {} bytes; an arena goes back to the system only when "
        "every pool in it is empty\n",
        thousands(pymalloc_free(s)), thousands(s.bytes_in_available_blocks), thousands(s.bytes_in_unused_pools),
        s.unused_pools, s.small_request_threshold);
  } else {
    out += "  free inside pymalloc: unknown (see above)\n";
  }
  if (gl) {
    const auto& g = *gl;
    out += fmt::format(
        "  free inside glibc:    {:>15} bytes ({} in free chunks + {} in top chunks), kept for "
        "malloc; a heap shrinks only from its top (trim threshold {})\n",
        thousands(g.free_bytes()), thousands(g.free_bytes() - g.top_bytes()), thousands(g.top_bytes()),
        g.trim_threshold ? thousands(*g.trim_threshold) + " bytes" : std::string("unknown"));
  } else {
    out += "  free inside glibc:    unknown (see above)\n";
  }
  std::vector<std::string> returned;
  if (py) {
    if (auto r = pymalloc_returned(*py))
      returned.push_back(
          fmt::format("pymalloc {} arenas ({} bytes)", *py->arenas_allocated_total - py->arenas, thousands(*r)));
  }
  if (gl) {
    returned.push_back(fmt::format("glibc heaps {} bytes below their peak", thousands(glibc_heap_returned(*gl))));
    returned.push_back(
        fmt::format("mmapped chunks {} bytes below their peak",
                    thousands(gl->max_mmapped_bytes - std::min(gl->max_mmapped_bytes, gl->mmapped_bytes))));
  }
  if (!returned.empty()) out += fmt::format("  returned to the OS:   {}\n", fmt::join(returned, "; "));
  if (rss) out += fmt::format("  resident now (VmRSS): {:>15} bytes\n", thousands(*rss));
  return out;
}

ojson pymalloc_json(const PymallocStats& s) {
  ojson j;
  j["allocator"] = s.allocator;
  j["arenas"] = s.arenas;
  j["arena_size"] = s.arena_size;
  j["pool_size"] = s.pool_size;
  j["bytes_in_allocated_blocks"] = s.bytes_in_allocated_blocks;
  j["bytes_in_available_blocks"] = s.bytes_in_available_blocks;
  ojson classes = ojson::array();
  for (const auto& c : s.classes)
    classes.push_back({{"class", c.index},
                       {"size", c.size},
                       {"pools", c.pools},
                       {"blocks_in_use", c.blocks_in_use},
                       {"blocks_available", c.blocks_available}});
  j["size_classes"] = std::move(classes);
  auto opt = [](const std::optional<uint64_t>& v) { return v ? ojson(*v) : ojson(nullptr); };
  j["arenas_allocated_total"] = opt(s.arenas_allocated_total);
  j["arenas_reclaimed"] = s.arenas_allocated_total && *s.arenas_allocated_total >= s.arenas
                              ? ojson(*s.arenas_allocated_total - s.arenas)
                              : ojson(nullptr);
  j["arenas_highwater"] = opt(s.arenas_highwater);
  j["arena_slots"] = s.arena_slots;
  j["alignment"] = s.alignment;
  j["small_request_threshold"] = s.small_request_threshold;
  j["size_class_count"] = s.size_class_count;
  j["unused_pools"] = s.unused_pools;
  j["bytes_in_unused_pools"] = s.bytes_in_unused_pools;
  j["bytes_lost_to_pool_headers"] = s.bytes_lost_to_pool_headers;
  j["bytes_lost_to_quantization"] = s.bytes_lost_to_quantization;
  j["bytes_lost_to_arena_alignment"] = s.bytes_lost_to_arena_alignment;
  j["total"] = s.total;
  j["free_bytes"] = pymalloc_free(s);
  j["returned_to_os_bytes"] = opt(pymalloc_returned(s));
  j["state"] = s.where;
  return j;
}

ojson glibc_json(const GlibcStats& g) {
  ojson j;
  ojson arenas = ojson::array();
  uint64_t fast_n = 0, fast_b = 0, bins_n = 0, bins_b = 0;
  for (const auto& a : g.arenas) {
    arenas.push_back({{"address", a.address},
                      {"main", a.main},
                      {"system_bytes", a.system_bytes},
                      {"max_system_bytes", a.max_system_bytes},
                      {"in_use_bytes", a.in_use_bytes()},
                      {"free_bytes", a.free_bytes()},
                      {"top_bytes", a.top_bytes},
                      {"fastbin_chunks", a.fastbin_chunks},
                      {"fastbin_bytes", a.fastbin_bytes},
                      {"bin_chunks", a.bin_chunks},
                      {"bin_bytes", a.bin_bytes}});
    fast_n += a.fastbin_chunks;
    fast_b += a.fastbin_bytes;
    bins_n += a.bin_chunks;
    bins_b += a.bin_bytes;
  }
  j["system_bytes"] = g.system_bytes();
  j["in_use_bytes"] = g.in_use_bytes();
  j["free_bytes"] = g.free_bytes();
  j["top_bytes"] = g.top_bytes();
  j["fastbin_chunks"] = fast_n;
  j["fastbin_bytes"] = fast_b;
  j["bin_chunks"] = bins_n;
  j["bin_bytes"] = bins_b;
  j["mmapped_regions"] = g.mmapped_regions;
  j["mmapped_bytes"] = g.mmapped_bytes;
  j["max_mmapped_regions"] = g.max_mmapped_regions;
  j["max_mmapped_bytes"] = g.max_mmapped_bytes;
  j["returned_to_os_bytes"] =
      glibc_heap_returned(g) + (g.max_mmapped_bytes - std::min(g.max_mmapped_bytes, g.mmapped_bytes));
  j["trim_threshold"] = g.trim_threshold ? ojson(*g.trim_threshold) : ojson(nullptr);
  j["mmap_threshold"] = g.mmap_threshold ? ojson(*g.mmap_threshold) : ojson(nullptr);
  j["fastbins"] = g.fastbins;
  j["safe_linking"] = g.fastbins ? ojson(g.safe_linking) : ojson(nullptr);
  j["arenas"] = std::move(arenas);
  return j;
}

Expected<std::string> run_arenas(Session& session, const ParsedArgs& args) {
  PYX_TRY(proc, session.process());
  Expected<PymallocStats> py = read_pymalloc(*proc);
  Expected<GlibcStats> gl = read_glibc_malloc(proc->target(), proc->mem());
  std::vector<std::string> notes;  // beyond why a section is missing
  if (proc->traits().pymalloc.model != ObmallocState::FileStatics && py) {
    if (auto interps = interpreters(*proc); interps && interps->size() > 1)
      notes.push_back(
          fmt::format("pymalloc: {} interpreters; these are the main interpreter's statistics "
                      "(sub-interpreters with their own obmalloc state are not included)",
                      interps->size()));
  }
  if (args.has("--json")) {
    ojson j;
    j["pymalloc"] = py ? pymalloc_json(*py) : ojson(nullptr);
    j["glibc"] = gl ? glibc_json(*gl) : ojson(nullptr);
    ojson all_notes = ojson::array();
    if (!py) all_notes.push_back("pymalloc: " + py.error().message);
    if (!gl) all_notes.push_back("glibc: " + gl.error().message);
    for (const auto& n : notes) all_notes.push_back(n);
    j["notes"] = std::move(all_notes);
    ojson warnings = ojson::array();
    if (py)
      for (const auto& w : py->warnings) warnings.push_back("pymalloc: " + w);
    if (gl)
      for (const auto& w : gl->warnings) warnings.push_back("glibc: " + w);
    j["warnings"] = std::move(warnings);
    return json_line(j);
  }
  std::string out;
  out += py ? pymalloc_text(*proc, *py) : fmt::format("pymalloc: not available: {}\n", py.error().message);
  out += "\n";
  out += gl ? glibc_text(*gl) : fmt::format("glibc malloc: not available: {}\n", gl.error().message);
  out += "\n";
  out += rss_text(py, gl, rss_bytes(proc->target()));
  for (const auto& n : notes) out += fmt::format("note: {}\n", n);
  return out;
}

}  // namespace

std::vector<CommandDef> arenas_commands() {
  return {{{"py-arenas", "Show pymalloc's and glibc malloc's view of the heap",
            "Usage: py-arenas [--json]\n"
            "Print what sys._debugmallocstats() would print for pymalloc (per size class the pools, blocks\n"
            "in use and available blocks; arenas; where the arena bytes go), then glibc malloc's arenas\n"
            "(bytes from the system, in use, free in bins and in the top chunk; mmapped chunks), then how\n"
            "much memory is free inside each allocator against what went back to the OS - why RSS does not\n"
            "drop after objects are deleted. Nothing runs in the process. pymalloc on CPython <= 3.11 needs\n"
            "the interpreter's symbol table; glibc needs libc's debug symbols (Debian: libc6-dbg) of the\n"
            "libc build the process maps (checked by build id and against its mappings).\n"
            "--json prints {\"pymalloc\": {...} or null, \"glibc\": {...} or null, \"notes\": [...], \"warnings\": "
            "[...]}."},
           {{"--json", false, "print one JSON object instead of text"}},
           0,
           run_arenas}};
}

}  // namespace pyxray
