#include "report/render_tasks.hpp"

#include <map>
#include <set>

#include <fmt/format.h>

#include "interp/code.hpp"
#include "report/render_stacks.hpp"
#include "report/source_lines.hpp"

namespace pyxray {
namespace {

using Json = nlohmann::ordered_json;

std::string hex(uint64_t v) { return fmt::format("0x{:x}", v); }

Json frames_json(const std::vector<PyFrame>& frames) {
  Json out = Json::array();
  for (const auto& f : frames) {
    if (!f.code) continue;
    out.push_back({{"function", f.code->name},
                   {"qualname", f.code->qualname ? Json(*f.code->qualname) : Json(nullptr)},
                   {"file", f.code->filename},
                   {"line", f.line ? Json(*f.line) : Json(nullptr)}});
  }
  return out;
}

Json addresses_json(const std::vector<uint64_t>& addrs) {
  Json out = Json::array();
  for (uint64_t a : addrs) out.push_back(hex(a));
  return out;
}

Json thread_json(const std::optional<int64_t>& native_id, const std::optional<uint64_t>& ident = std::nullopt) {
  if (native_id) return *native_id;
  if (ident) return *ident;
  return nullptr;
}

void frames_text(std::string& out, const std::vector<PyFrame>& frames, SourceLines& sources) {
  for (const auto& f : frames)
    if (f.code) traceback_frame_text(out, f, sources);
}

std::string task_label(const AsyncTask& t) {
  return t.name.empty() ? fmt::format("task 0x{:x}", t.address) : fmt::format("\"{}\"", t.name);
}

std::string thread_words(const std::optional<int64_t>& native_id, const std::optional<uint64_t>& ident) {
  if (native_id) return fmt::format("thread {}", *native_id);
  if (ident) return fmt::format("thread 0x{:x}", *ident);
  return "";
}

std::string task_heading(const AsyncTask& t) {
  std::string where = thread_words(t.thread, t.thread_ident);
  std::string state = task_state_name(t.state);
  if (t.running && !where.empty()) state = "running on " + where;
  else if (!where.empty()) state += ", loop on " + where;
  else state += ", its loop is not running";
  return fmt::format("Task {} (0x{:x}) {}, {}", task_label(t), t.address, t.type, state);
}

std::string names_of(const std::map<uint64_t, const AsyncTask*>& by_addr, const std::vector<uint64_t>& addrs) {
  std::string out;
  for (uint64_t a : addrs) {
    if (!out.empty()) out += ", ";
    auto it = by_addr.find(a);
    out += it == by_addr.end() ? hex(a) : fmt::format("{} (0x{:x})", task_label(*it->second), a);
  }
  return out;
}

std::map<uint64_t, const AsyncTask*> index_tasks(const TasksReport& r) {
  std::map<uint64_t, const AsyncTask*> m;
  for (const auto& t : r.tasks) m[t.address] = &t;
  return m;
}

std::string deadlock_words(const std::map<uint64_t, const AsyncTask*>& by_addr, const std::vector<uint64_t>& cycle) {
  std::string out = "Deadlock: ";
  for (std::size_t i = 0; i < cycle.size(); ++i) {
    auto it = by_addr.find(cycle[i]);
    out += it == by_addr.end() ? hex(cycle[i]) : task_label(*it->second);
    out += " awaits ";
  }
  auto first = by_addr.find(cycle.front());
  out += (first == by_addr.end() ? hex(cycle.front()) : task_label(*first->second)) + ": none of them can finish.\n";
  return out;
}

std::string nothing_line(const TasksReport& r) {
  if (!r.asyncio && !r.greenlet) return "This process has not imported asyncio or greenlet: it has no tasks.\n";
  std::string out;
  if (r.asyncio && r.tasks.empty()) out += "asyncio is imported, but no task is pending.\n";
  if (r.greenlet && r.greenlets.empty()) out += "greenlet is imported, but no greenlet is alive.\n";
  return out;
}

}  // namespace

std::string frame_brief(const PyFrame& f) {
  if (!f.code) return "?";
  std::string file = f.code->filename;
  if (auto slash = file.rfind('/'); slash != std::string::npos) file = file.substr(slash + 1);
  return fmt::format("{} ({}:{})", f.code->qualname ? *f.code->qualname : f.code->name, file,
                     f.line ? fmt::format("{}", *f.line) : "?");
}

Json tasks_json(const TasksReport& r) {
  Json j;
  j["asyncio"] = r.asyncio;
  j["greenlet"] = r.greenlet;
  Json tasks = Json::array();
  for (const auto& t : r.tasks) {
    Json o;
    o["address"] = hex(t.address);
    o["name"] = t.name;
    o["type"] = t.type;
    o["state"] = task_state_name(t.state);
    o["thread"] = thread_json(t.thread, t.thread ? std::nullopt : t.thread_ident);
    o["running"] = t.running;
    o["loop"] = t.loop ? Json(hex(t.loop)) : Json(nullptr);
    o["stack"] = frames_json(t.stack);
    o["awaits"] = addresses_json(t.awaits);
    o["awaited_by"] = addresses_json(t.awaited_by);
    o["waiting_on"] =
        t.waiting_on ? Json{{"address", hex(t.waiting_on->address)}, {"type", t.waiting_on->type}} : Json(nullptr);
    o["warnings"] = t.warnings;
    tasks.push_back(std::move(o));
  }
  j["tasks"] = std::move(tasks);
  Json greenlets = Json::array();
  for (const auto& g : r.greenlets) {
    greenlets.push_back({{"address", hex(g.address)},
                         {"name", g.name},
                         {"type", g.type},
                         {"state", g.state},
                         {"thread", thread_json(g.thread)},
                         {"running", g.running},
                         {"stack", frames_json(g.stack)},
                         {"warnings", g.warnings}});
  }
  j["greenlets"] = std::move(greenlets);
  Json deadlocks = Json::array();
  for (const auto& d : r.deadlocks) deadlocks.push_back(addresses_json(d));
  j["deadlocks"] = std::move(deadlocks);
  j["warnings"] = r.warnings;
  return j;
}

std::string tasks_text(const TasksReport& r, SourceLines& sources) {
  std::string out = nothing_line(r);
  const auto by_addr = index_tasks(r);
  for (const auto& d : r.deadlocks) out += deadlock_words(by_addr, d);
  if (!r.deadlocks.empty()) out += "\n";
  for (const auto& t : r.tasks) {
    out += task_heading(t) + "\n";
    if (!t.awaits.empty()) out += "  awaits " + names_of(by_addr, t.awaits) + "\n";
    if (!t.awaited_by.empty()) out += "  awaited by " + names_of(by_addr, t.awaited_by) + "\n";
    if (t.waiting_on) out += fmt::format("  waiting on {} 0x{:x}\n", t.waiting_on->type, t.waiting_on->address);
    frames_text(out, t.stack, sources);
    for (const auto& w : t.warnings) out += "  (" + w + ")\n";
    out += "\n";
  }
  for (const auto& g : r.greenlets) {
    std::string where = thread_words(g.thread, std::nullopt);
    out += fmt::format("Greenlet {} (0x{:x}) {}, {}{}\n", g.name.empty() ? "(unnamed)" : "\"" + g.name + "\"",
                       g.address, g.type, g.state, where.empty() ? "" : ", " + where);
    frames_text(out, g.stack, sources);
    for (const auto& w : g.warnings) out += "  (" + w + ")\n";
    out += "\n";
  }
  for (const auto& w : r.warnings) out += "warning: " + w + "\n";
  return out;
}

std::string tasks_tree(const TasksReport& r) {
  std::string out = nothing_line(r);
  const auto by_addr = index_tasks(r);
  std::set<uint64_t> drawn;
  // Children of a task: the tasks it awaits.
  auto draw = [&](auto&& self, const AsyncTask& t, const std::string& prefix, bool last, bool root) -> void {
    std::string line = root ? "" : prefix + (last ? "└── " : "├── ");
    std::string where = t.stack.empty() ? "" : " " + frame_brief(t.stack.front());
    const bool again = !drawn.insert(t.address).second;
    out += fmt::format("{}(T) {}{}{}\n", line, t.name.empty() ? hex(t.address) : t.name, where,
                       again ? " (again: see above)" : "");
    if (again) return;
    const std::string child_prefix = root ? "" : prefix + (last ? "    " : "│   ");
    for (std::size_t i = 0; i < t.awaits.size(); ++i) {
      auto it = by_addr.find(t.awaits[i]);
      if (it != by_addr.end()) self(self, *it->second, child_prefix, i + 1 == t.awaits.size(), false);
    }
  };
  for (const auto& t : r.tasks)
    if (t.awaited_by.empty()) draw(draw, t, "", true, true);
  for (const auto& d : r.deadlocks) {
    out += deadlock_words(by_addr, d);
    auto it = by_addr.find(d.front());
    if (it != by_addr.end() && !drawn.count(d.front())) draw(draw, *it->second, "", true, true);
  }
  for (const auto& g : r.greenlets) {
    out += fmt::format("(G) {}{}\n", g.name.empty() ? hex(g.address) : g.name,
                       g.stack.empty() ? "" : " " + frame_brief(g.stack.front()));
  }
  return out;
}

}  // namespace pyxray
