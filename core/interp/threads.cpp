#include "interp/threads.hpp"

#include <unordered_set>

#include <fmt/format.h>

#include "base/limits.hpp"
#include "interp/gil.hpp"
#include "interp/python_process.hpp"
#include "layout/version_traits.hpp"

namespace pyxray {
namespace {

// The thread state holding the GIL, 0 if none (or unknown).
uint64_t gil_holder_of(PythonProcess& proc, const GilLocation& where, uint64_t interp) {
  Memory& m = proc.mem();
  auto read = [&m](uint64_t a, auto& v) {
    auto r = m.read<std::decay_t<decltype(v)>>(a);
    if (r) v = *r;
    return static_cast<bool>(r);
  };
  return gil_holder(where, interp, read).value_or(0);
}

}  // namespace

Expected<std::vector<uint64_t>> interpreters(PythonProcess& proc) {
  const Layout& L = proc.layout();
  Memory& m = proc.mem();
  uint64_t head_slot =
      proc.runtime_addr() ? proc.runtime_addr() + L.runtime_interpreters_head : proc.interp_head_addr();
  PYX_TRY(head, m.read_ptr(head_slot));
  if (head == 0) return fail("the interpreter is not initialised (or is shutting down): no interpreter state");
  std::vector<uint64_t> out;
  std::unordered_set<uint64_t> seen;
  const auto max = static_cast<std::size_t>(limits().interpreters);
  for (uint64_t interp = head; interp && out.size() < max;) {
    if (!seen.insert(interp).second) break;
    out.push_back(interp);
    auto next = m.read_ptr(interp + L.interp_next);
    if (!next) break;
    interp = *next;
  }
  return out;
}

Expected<ThreadStates> thread_states(PythonProcess& proc) {
  const Layout& L = proc.layout();
  Memory& m = proc.mem();
  PYX_TRY(interps, interpreters(proc));
  ThreadStates result;
  if (interps.size() >= static_cast<std::size_t>(limits().interpreters))
    result.warning = fmt::format("showing the first {} interpreters ({})", interps.size(), raise_hint("interpreters"));
  const auto max_threads = static_cast<std::size_t>(limits().threads);
  const GilLocation gil = gil_location(proc);
  std::unordered_set<uint64_t> seen;
  for (uint64_t interp : interps) {
    int64_t head_off = L.interp_threads_head != kAbsent ? L.interp_threads_head : L.interp_tstate_head;
    auto head = m.read_ptr(interp + head_off);
    if (!head) {
      result.warning = fmt::format("cannot read the thread list of interpreter 0x{:x}", interp);
      continue;
    }
    uint64_t holder = gil_holder_of(proc, gil, interp);
    for (uint64_t ts = *head; ts;) {
      if (result.threads.size() >= max_threads) {
        result.warning = fmt::format("showing the first {} thread states ({})", max_threads, raise_hint("threads"));
        break;
      }
      if (!seen.insert(ts).second) {
        result.warning = "the thread list loops; showing the threads found before the loop";
        break;
      }
      ThreadState t;
      t.addr = ts;
      t.interp = interp;
      t.holds_gil = holder == ts;
      auto id = m.read<uint64_t>(ts + L.tstate_thread_id);
      t.thread_id = id.value_or(0);
      t.readable = id.has_value();
      if (L.tstate_native_thread_id != kAbsent) {
        if (auto tid = m.read<int64_t>(ts + L.tstate_native_thread_id)) t.native_id = *tid;
      }
      if (L.tstate_state != kAbsent) {
        if (auto st = m.read<int32_t>(ts + L.tstate_state)) t.run_state = *st;
      }
      result.threads.push_back(t);
      auto next = m.read_ptr(ts + L.tstate_next);
      if (!next) {
        result.warning = fmt::format("cannot read the thread state at 0x{:x}", ts);
        break;
      }
      ts = *next;
    }
  }
  return result;
}

}  // namespace pyxray
