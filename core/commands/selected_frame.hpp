// The Python frame the user is looking at: the selected thread's stack and the frame py-up/py-down
// chose in it (the innermost one until they move).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "base/expected.hpp"
#include "interp/code.hpp"
#include "interp/frames.hpp"
#include "interp/locals.hpp"
#include "interp/objects.hpp"
#include "report/thread_report.hpp"

namespace pyxray {

class Session;
class PythonProcess;

// Everything needed to decode one frame, alive for one command.
struct FrameContext {
  PythonProcess* proc = nullptr;
  std::unique_ptr<Objects> objects;
  std::unique_ptr<CodeCache> codes;
  ThreadReport thread;
  int index = 0;
  const PyFrame& frame() const { return thread.stack.frames[static_cast<std::size_t>(index)]; }
};

// The selected thread's stack with the selection applied (reset to the innermost frame when the
// thread or its stack changed). Fails when the thread has no Python frames.
Expected<FrameContext> selected_frame(Session& session);

// NAME as the selected Python frame sees it: a local, then a global, then a builtin. Fails with one
// line naming the frame when there is no such name.
struct NamedObject {
  FrameContext ctx;
  NameLookup found;
};
Expected<NamedObject> lookup_selected(Session& session, const std::string& name);

// An object given on a command line the way py-print takes it: an ADDRESS (hex 0x... or decimal,
// anything starting with a digit) or a NAME looked up in the selected Python frame. `name` and
// `scope` are empty for an address; the address is not checked to be an object.
struct ObjectArg {
  uint64_t address = 0;
  std::string name;
  std::string scope;  // "local", "global" or "builtin"
};
bool looks_like_address(std::string_view text);
Expected<uint64_t> parse_address(std::string_view text);
Expected<ObjectArg> object_arg(Session& session, const std::string& text);

// "#2 File "x.py", line 7, in f" and, when readable, the source line under it.
std::string describe_frame(Target& target, const PyFrame& frame, int index);

}  // namespace pyxray
