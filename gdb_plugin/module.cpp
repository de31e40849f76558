// The pybind11 module gdb's embedded Python imports. It only hands commands to the core's Session;
// pyxray-gdb.py registers one gdb command per entry of commands().
#include <memory>

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "commands/session.hpp"
#include "gdb_target.hpp"
#include "layout/layout.hpp"

namespace py = pybind11;

namespace {

struct State {
  pyxray::gdb::GdbTarget* target = nullptr;  // owned by the session
  std::unique_ptr<pyxray::Session> session;
  int pid = -1;
};

State& state() {
  static State s;
  return s;
}

pyxray::Session& session() {
  State& s = state();
  if (!s.session) {
    auto target = std::make_unique<pyxray::gdb::GdbTarget>();
    s.target = target.get();
    s.session = std::make_unique<pyxray::Session>(std::move(target));
  }
  int pid = s.target->pid();
  if (pid != s.pid) {
    s.target->forget_program();
    s.pid = pid;
  }
  return *s.session;
}

}  // namespace

PYBIND11_MODULE(_pyxray, m) {
  m.doc() = "pyxray: CPython internals for gdb";
  m.def("commands", [] {
    std::vector<std::tuple<std::string, std::string, std::string>> out;
    for (const auto& c : pyxray::command_list()) out.emplace_back(c.name, c.summary, c.help);
    return out;
  });
  // Every layout field gdb's debuginfo knows, by table key: what tools/gen-layout-tables stores as the
  // built-in tables. Needs only the program's symbols, not a process.
  m.def("debuginfo_layout", [] {
    pyxray::gdb::GdbTarget target;
    std::vector<std::pair<std::string, int64_t>> out;
    for (const auto& f : pyxray::layout_fields()) {
      if (auto off = target.type_offset(f.type, f.path)) out.emplace_back(pyxray::layout_key(f), *off);
    }
    return out;
  });
  // The system call a thread is in, as gdb's registers show it (not /proc): (number, [six arguments]),
  // or None. For the tests, which compare it with the kernel's own account.
  m.def("blocked_syscall", [](int64_t tid) -> std::optional<std::pair<int64_t, std::vector<uint64_t>>> {
    pyxray::gdb::GdbTarget target;
    auto call = target.blocked_syscall(tid);
    if (!call) return std::nullopt;
    return std::make_pair(call->number, std::vector<uint64_t>(call->args.begin(), call->args.end()));
  });
  m.def("run", [](const std::string& name, const std::string& args) {
    auto r = session().run(name, args);
    return std::make_tuple(r.ok, r.output, r.note, r.reraise_signal);
  });
}
