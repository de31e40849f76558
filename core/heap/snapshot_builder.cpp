#include "heap/snapshot_builder.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <optional>

#include <fmt/format.h>

#include "base/terminal_progress.hpp"
#include "heap/object_size.hpp"
#include "heap/referents.hpp"
#include "interp/objects.hpp"
#include "interp/python_process.hpp"
#include "target/memory.hpp"

#ifndef PYXRAY_VERSION_TEXT
#define PYXRAY_VERSION_TEXT "0.1.0"
#endif

namespace pyxray {

void SnapshotBuilder::add(const HeapObject& o) {
  const TypeInfo& t = *o.type;
  if (t.id >= index_by_type_id_.size()) index_by_type_id_.resize(t.id + 1, -1);
  int32_t& index = index_by_type_id_[t.id];
  if (index < 0) {
    index = static_cast<int32_t>(types_.size());
    types_.push_back({t.module, t.qualname, t.name, t.addr, 0, 0, 0, {}});
    type_ids_.push_back(t.id);
  }
  SnapshotType& row = types_[static_cast<std::size_t>(index)];
  ++row.count;
  row.bytes += o.size;
  row.max = std::max(row.max, o.size);
  if (objects_) columns_.add(o.addr, static_cast<uint32_t>(index), o.size);
}

std::string now_utc_text(double& epoch_seconds) {
  const auto now = std::chrono::system_clock::now();
  epoch_seconds = std::chrono::duration<double>(now.time_since_epoch()).count();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec);
}

HeapSnapshot SnapshotBuilder::finish(PythonProcess& proc, const HeapWalkStats& stats, const GenerationResult* gens) {
  HeapSnapshot s;
  s.process = process_identity(proc.target());
  s.python_version = proc.version().text();
  s.free_threaded = proc.layout_sources().free_threaded;
  s.pyxray_version = PYXRAY_VERSION_TEXT;
  s.taken_at = now_utc_text(s.time);
  s.seconds = stats.seconds;
  s.objects = stats.objects;
  s.bytes = stats.bytes;
  s.partial = stats.partial;
  s.warnings = stats.warnings;
  if (gens) {
    for (const auto& name : generation_names(proc.traits())) s.generation_names.push_back(name);
    for (std::size_t i = 0; i < types_.size(); ++i) {
      const uint32_t id = type_ids_[i];
      GenCounts c = id < gens->by_type.size() ? gens->by_type[id] : GenCounts{};
      uint64_t tracked = 0;
      for (int k = 1; k < kGenCodes; ++k) tracked += c[k];
      c[kGenUntracked] = types_[i].count - std::min(types_[i].count, tracked);
      types_[i].gens.assign(c.begin(), c.end());
    }
  }
  s.types = std::move(types_);
  if (objects_) {
    columns_.finish(s);
    if (gens && gens->gen_by_ordinal.size() == s.object_count) s.gen_col = gens->gen_by_ordinal;
  }
  return s;
}

Expected<HeapSnapshot> take_snapshot(PythonProcess& proc, bool objects) {
  Objects objs(proc);
  TypeCache types(proc, objs);
  ObjectSizer sizer(proc, types);
  Referents refs(proc, types);
  SnapshotBuilder builder(objects);
  // Every object's generation goes with every object; without the GC lists, a snapshot without them.
  std::optional<GenerationCensus> census;
  if (objects) {
    census.emplace(proc);
    if (!census->start()) census.reset();
  }
  HeapWalkOptions opt;
  opt.on_object = [&](const HeapObject& o) {
    builder.add(o);
    if (census) census->add(o);
  };
  TerminalProgress terminal;  // walks of big heaps take seconds: say how far they got, on a terminal
  if (terminal.enabled()) opt.progress = [&](std::string_view line) { terminal.show(line); };
  HeapWalker walker(proc, objs, types, sizer, refs);
  PYX_TRY(stats, walker.run(opt));
  if (stats.target_gone) return fail(process_gone_message(proc.target().pid(), " during the heap walk"));
  if (!census) return builder.finish(proc, stats);
  const GenerationResult gens = census->finish(stats.objects);
  return builder.finish(proc, stats, &gens);
}

}  // namespace pyxray
