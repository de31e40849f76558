#include "commands/selected_frame.hpp"

#include <cctype>
#include <charconv>

#include <fmt/format.h>

#include "commands/session.hpp"
#include "interp/python_process.hpp"
#include "report/source_lines.hpp"

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

Expected<NamedObject> lookup_selected(Session& session, const std::string& name) {
  PYX_TRY(ctx, selected_frame(session));
  PYX_TRY(found, lookup_name(*ctx.proc, *ctx.objects, ctx.frame(), name));
  if (!found) {
    return fail(fmt::format("no local, global or builtin named '{}' in frame #{} ({})", name, ctx.index,
                            ctx.frame().code->name));
  }
  return NamedObject{std::move(ctx), *found};
}

bool looks_like_address(std::string_view text) {
  return !text.empty() && std::isdigit(static_cast<unsigned char>(text[0]));
}

Expected<uint64_t> parse_address(std::string_view text) {
  int base = 10;
  std::string_view digits = text;
  if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
    base = 16;
    digits.remove_prefix(2);
  }
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value, base);
  if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size())
    return fail(fmt::format("'{}' is not an address (want hex 0x... or decimal)", text));
  return value;
}

Expected<ObjectArg> object_arg(Session& session, const std::string& text) {
  if (looks_like_address(text)) {
    PYX_TRY(addr, parse_address(text));
    return ObjectArg{addr, {}, {}};
  }
  PYX_TRY(named, lookup_selected(session, text));
  return ObjectArg{named.found.value, text, named.found.scope};
}

std::string describe_frame(Target& target, const PyFrame& frame, int index) {
  std::string line = frame.line ? fmt::format("{}", *frame.line) : "?";
  std::string out =
      fmt::format("#{} File \"{}\", line {}, in {}\n", index, frame.code->filename, line, frame.code->name);
  SourceLines sources(&target);
  if (frame.line) {
    if (auto src = sources.line(frame.code->filename, *frame.line); src && !src->empty())
      out += fmt::format("    {}\n", *src);
  }
  return out;
}

}  // namespace pyxray
