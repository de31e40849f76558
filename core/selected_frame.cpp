#include "selected_frame.hpp"

#include <fmt/format.h>

#include "python_process.hpp"
#include "session.hpp"
#include "source_lines.hpp"

namespace pyxray {

Expected<FrameContext> selected_frame(Session& session) {
  auto tid = session.target().selected_thread();
  if (!tid) return fail("no thread is selected");
  PYX_TRY(proc, session.process());
  FrameContext ctx;
  ctx.proc = proc;
  ctx.objects = std::make_unique<Objects>(*proc);
  ctx.codes = std::make_unique<CodeCache>(*proc, *ctx.objects);
  ReportOptions options;
  options.only_native_id = *tid;
  PYX_TRY(report, collect_report(*proc, *ctx.objects, *ctx.codes, options));
  if (report.threads.empty()) return fail(fmt::format("thread {} has no Python thread state", *tid));
  ctx.thread = std::move(report.threads.front());
  if (ctx.thread.stack.frames.empty()) return fail(fmt::format("thread {} has no Python frames", *tid));
  FrameSelection& sel = session.selection();
  int n = static_cast<int>(ctx.thread.stack.frames.size());
  bool still_valid = sel.thread == *tid && sel.index < n &&
                     ctx.thread.stack.frames[static_cast<std::size_t>(sel.index)].addr == sel.frame_addr;
  if (!still_valid) sel = {*tid, 0, ctx.thread.stack.frames.front().addr};
  ctx.index = sel.index;
  return ctx;
}

std::string describe_frame(Target& target, const PyFrame& frame, int index) {
  std::string line = frame.line ? fmt::format("{}", *frame.line) : "?";
  std::string out = fmt::format("#{} File \"{}\", line {}, in {}\n", index, frame.code->filename, line, frame.code->name);
  SourceLines sources(&target);
  if (frame.line) {
    if (auto src = sources.line(frame.code->filename, *frame.line); src && !src->empty()) out += fmt::format("    {}\n", *src);
  }
  return out;
}

}  // namespace pyxray
