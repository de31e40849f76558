#include "report/render_locks.hpp"

#include <fmt/format.h>

#include <set>

#include "interp/code.hpp"
#include "locks/lock_report.hpp"
#include "report/thread_report.hpp"

namespace pyxray {
namespace {

using Json = nlohmann::ordered_json;

std::string hex(uint64_t v) { return fmt::format("0x{:x}", v); }

std::string thread_text(const ProcessReport& r, std::size_t t) {
  const ThreadReport& th = r.threads[t];
  std::string id =
      th.native_id ? fmt::format("thread {}", *th.native_id) : fmt::format("thread {}", hex(th.state.thread_id));
  return th.name.empty() ? id : fmt::format("\"{}\" ({})", th.name, id);
}

const PyFrame* frame_of(const ProcessReport& r, const ThreadAt& at) {
  if (!at.frame) return nullptr;
  const auto& frames = r.threads[at.thread].stack.frames;
  return *at.frame < frames.size() && frames[*at.frame].code ? &frames[*at.frame] : nullptr;
}

std::string where(const ProcessReport& r, const ThreadAt& at) {
  const PyFrame* f = frame_of(r, at);
  if (!f) return "";
  return fmt::format(" at {}:{} in {}", f->code->filename, f->line ? fmt::format("{}", *f->line) : "?", f->code->name);
}

std::string object_label(const std::string& name, const std::string& type, uint64_t address) {
  return name.empty() ? fmt::format("{} at {}", type, hex(address))
                      : fmt::format("{} ({} at {})", name, type, hex(address));
}

std::string short_label(const LockInfo& l) {
  return l.name.empty() ? fmt::format("{} {}", l.state.type, hex(l.state.address)) : l.name;
}

Json at_json(const ProcessReport& r, const ThreadAt& at) {
  const ThreadReport& th = r.threads[at.thread];
  Json j;
  j["native_id"] = th.native_id ? Json(*th.native_id) : Json(nullptr);
  j["ident"] = th.state.thread_id;
  j["thread"] = th.name;
  const PyFrame* f = frame_of(r, at);
  j["file"] = f ? Json(f->code->filename) : Json(nullptr);
  j["line"] = f && f->line ? Json(*f->line) : Json(nullptr);
  j["function"] = f ? Json(f->code->name) : Json(nullptr);
  return j;
}

Json native_id_json(const ProcessReport& r, std::size_t t) {
  const auto& th = r.threads[t];
  return th.native_id ? Json(*th.native_id) : Json(nullptr);
}

// "'a' holds X and waits for Y, held by 'b', which waits for X."
std::string deadlock_text(const ProcessReport& r, const LockReport& locks, const Deadlock& d) {
  auto waits = [&](std::size_t i) {
    if (!d.locks[i])
      return std::string("waits for ") + thread_text(r, d.threads[(i + 1) % d.threads.size()]) + " to end";
    for (std::size_t l = 0; l < locks.locks.size(); ++l)
      if (locks.locks[l].state.address == d.locks[i]) return "waits for " + short_label(locks.locks[l]);
    return "waits for " + hex(d.locks[i]);
  };
  std::string out = "Deadlock: " + thread_text(r, d.threads[0]);
  const std::size_t n = d.threads.size();
  // What the first thread holds is what the last one waits for.
  if (d.locks[n - 1]) {
    for (const auto& l : locks.locks)
      if (l.state.address == d.locks[n - 1]) out += " holds " + short_label(l) + " and";
  }
  for (std::size_t i = 0; i < n; ++i) {
    out += " " + waits(i);
    const std::size_t next = (i + 1) % n;
    if (next == 0) break;
    out += d.locks[i] ? ", held by " + thread_text(r, d.threads[next]) + ", which" : ", which";
  }
  return out + ".";
}

// The GIL is a lock too: its holder and the threads waiting for it, as py-bt-all's statuses know them.
struct GilView {
  std::optional<std::size_t> holder;
  std::vector<std::size_t> waiters;
};

GilView gil_view(const ProcessReport& r) {
  GilView g;
  for (std::size_t i = 0; i < r.threads.size(); ++i) {
    if (r.threads[i].state.holds_gil) g.holder = i;
    if (r.threads[i].status == ThreadStatus::WaitingForGil) g.waiters.push_back(i);
  }
  return g;
}

}  // namespace

std::string lock_label(const LockReport& locks, std::size_t lock) { return short_label(locks.locks[lock]); }

std::string locks_text(const ProcessReport& r, const LockReport& locks) {
  std::string out;
  for (const auto& w : r.warnings) out += fmt::format("pyxray: warning: {}\n", w);
  for (const auto& w : locks.warnings) out += fmt::format("pyxray: warning: {}\n", w);
  for (const auto& d : locks.deadlocks) out += deadlock_text(r, locks, d) + "\n";
  if (!locks.deadlocks.empty()) out += "\n";
  const GilView gil = gil_view(r);
  if (!r.free_threaded && (gil.holder || !gil.waiters.empty())) {
    out += "The GIL: ";
    out += gil.holder ? "held by " + thread_text(r, *gil.holder) : std::string("held by no thread");
    for (std::size_t i = 0; i < gil.waiters.size(); ++i)
      out += (i == 0 ? "; waited for by " : ", ") + thread_text(r, gil.waiters[i]);
    out += "\n\n";
  }
  if (locks.locks.empty() && locks.conditions.empty() && locks.joins.empty()) {
    out += "No thread holds or waits for a lock, a condition or another thread.\n";
    return out;
  }
  if (!locks.locks.empty()) out += fmt::format("Locks ({}):\n", locks.locks.size());
  for (const auto& l : locks.locks) {
    out += "  " + object_label(l.name, l.state.type, l.state.address);
    if (l.state.kind == LockKind::ModuleLock && !l.state.module.empty())
      out += fmt::format(", importing {}", l.state.module);
    out += "\n";
    if (!l.state.locked) {
      out += "    not held\n";
    } else if (!l.holders.empty()) {
      for (const auto& h : l.holders) {
        out += "    held by " + thread_text(r, h.thread);
        if (l.state.count > 1) out += fmt::format(" ({} times)", l.state.count);
        out += where(r, h) + "\n";
      }
    } else if (l.holder_known && l.state.owner) {
      out += fmt::format("    held by thread ident {} (no such thread any more)\n", hex(*l.state.owner));
    } else {
      out += "    held by an unknown thread (taken outside a with block, or by a frame that cannot be read)\n";
    }
    for (const auto& w : l.waiters) out += "    waited for by " + thread_text(r, w.thread) + where(r, w) + "\n";
  }
  if (!locks.conditions.empty()) {
    if (!locks.locks.empty()) out += "\n";
    out += fmt::format("Waiting for a notification ({}):\n", locks.conditions.size());
    for (const auto& c : locks.conditions) {
      out += "  " + object_label(c.name, c.type, c.address);
      if (c.condition != c.address) out += fmt::format(", on its Condition at {}", hex(c.condition));
      out += "\n";
      for (const auto& w : c.waiters) out += "    " + thread_text(r, w.thread) + where(r, w) + "\n";
    }
  }
  if (!locks.joins.empty()) {
    if (!locks.locks.empty() || !locks.conditions.empty()) out += "\n";
    out += fmt::format("Joining a thread ({}):\n", locks.joins.size());
    for (const auto& j : locks.joins) {
      out += "  " + thread_text(r, j.waiter.thread) + where(r, j.waiter) + " waits for ";
      out += j.joined ? thread_text(r, *j.joined) : fmt::format("thread ident {}", hex(j.ident));
      out += " to end\n";
    }
  }
  return out;
}

Json locks_json(const ProcessReport& r, const LockReport& locks) {
  Json out;
  out["pid"] = r.pid;
  Json list = Json::array();
  for (const auto& l : locks.locks) {
    Json j;
    j["address"] = hex(l.state.address);
    j["type"] = l.state.type;
    j["kind"] = lock_kind_name(l.state.kind);
    j["name"] = l.name.empty() ? Json(nullptr) : Json(l.name);
    j["locked"] = l.state.locked;
    if (l.holders.empty()) {
      j["held_by"] = nullptr;
    } else {
      Json holders = Json::array();
      for (const auto& h : l.holders) holders.push_back(at_json(r, h));
      j["held_by"] = std::move(holders);
    }
    j["holder_known"] = !l.state.locked || l.holder_known;
    j["count"] = l.state.count;
    if (l.state.kind == LockKind::ModuleLock) j["module"] = l.state.module;
    Json waiters = Json::array(), waiting = Json::array();
    for (const auto& w : l.waiters) {
      waiters.push_back(native_id_json(r, w.thread));
      waiting.push_back(at_json(r, w));
    }
    j["waiters"] = std::move(waiters);
    j["waiting"] = std::move(waiting);
    list.push_back(std::move(j));
  }
  out["locks"] = std::move(list);
  Json conditions = Json::array();
  for (const auto& c : locks.conditions) {
    Json j;
    j["address"] = hex(c.address);
    j["type"] = c.type;
    j["name"] = c.name.empty() ? Json(nullptr) : Json(c.name);
    j["condition"] = hex(c.condition);
    Json waiters = Json::array(), waiting = Json::array();
    for (const auto& w : c.waiters) {
      waiters.push_back(native_id_json(r, w.thread));
      waiting.push_back(at_json(r, w));
    }
    j["waiters"] = std::move(waiters);
    j["waiting"] = std::move(waiting);
    conditions.push_back(std::move(j));
  }
  out["conditions"] = std::move(conditions);
  Json joins = Json::array();
  for (const auto& jn : locks.joins) {
    Json j = at_json(r, jn.waiter);
    j["joins"] = jn.joined ? native_id_json(r, *jn.joined) : Json(nullptr);
    j["joins_ident"] = jn.ident;
    joins.push_back(std::move(j));
  }
  out["joins"] = std::move(joins);
  Json deadlocks = Json::array();
  for (const auto& d : locks.deadlocks) {
    Json threads = Json::array(), idents = Json::array(), ls = Json::array();
    for (auto t : d.threads) {
      threads.push_back(native_id_json(r, t));
      idents.push_back(r.threads[t].state.thread_id);
    }
    for (auto l : d.locks) ls.push_back(l ? Json(hex(l)) : Json(nullptr));
    deadlocks.push_back({{"threads", std::move(threads)}, {"idents", std::move(idents)}, {"locks", std::move(ls)}});
  }
  out["deadlocks"] = std::move(deadlocks);
  if (!r.free_threaded) {
    const GilView gil = gil_view(r);
    Json waiters = Json::array();
    for (auto t : gil.waiters) waiters.push_back(native_id_json(r, t));
    out["gil"] = {{"held_by", gil.holder ? native_id_json(r, *gil.holder) : Json(nullptr)},
                  {"waiters", std::move(waiters)}};
  }
  std::vector<std::string> warnings = r.warnings;
  warnings.insert(warnings.end(), locks.warnings.begin(), locks.warnings.end());
  out["warnings"] = warnings;
  return out;
}

std::string locks_dot(const ProcessReport& r, const LockReport& locks) {
  // Graphviz's quoted strings escape the quote and the backslash; a line break is written \n.
  auto quote = [](const std::string& s) {
    std::string q = "\"";
    for (char c : s) {
      if (c == '\n') {
        q += "\\n";
        continue;
      }
      if (c == '"' || c == '\\') q += '\\';
      q += c;
    }
    return q + "\"";
  };
  // The edges of every cycle, drawn red: (thread, lock) "waits for" and (lock, thread) "held by".
  std::set<std::pair<std::string, std::string>> red;
  for (const auto& d : locks.deadlocks) {
    for (std::size_t i = 0; i < d.threads.size(); ++i) {
      const std::string t = fmt::format("t{}", d.threads[i]),
                        next = fmt::format("t{}", d.threads[(i + 1) % d.threads.size()]);
      if (!d.locks[i]) {
        red.insert({t, next});
        continue;
      }
      const std::string l = fmt::format("l{}", hex(d.locks[i]));
      red.insert({t, l});
      red.insert({l, next});
    }
  }
  auto edge = [&](const std::string& from, const std::string& to, const std::string& label) {
    const bool in_cycle = red.count({from, to}) > 0;
    return fmt::format("  {} -> {} [label={}{}];\n", from, to, quote(label),
                       in_cycle ? ", color=red, fontcolor=red, penwidth=2" : "");
  };
  std::string out = "digraph locks {\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n";
  std::set<std::size_t> threads;
  for (const auto& l : locks.locks) {
    for (const auto& h : l.holders) threads.insert(h.thread);
    for (const auto& w : l.waiters) threads.insert(w.thread);
  }
  for (const auto& c : locks.conditions)
    for (const auto& w : c.waiters) threads.insert(w.thread);
  for (const auto& j : locks.joins) {
    threads.insert(j.waiter.thread);
    if (j.joined) threads.insert(*j.joined);
  }
  for (auto t : threads) out += fmt::format("  t{} [shape=box, label={}];\n", t, quote(thread_text(r, t)));
  for (const auto& l : locks.locks) {
    const std::string id = fmt::format("l{}", hex(l.state.address));
    out += fmt::format("  {} [shape=ellipse, label={}];\n", id, quote(short_label(l) + "\n" + l.state.type));
    for (const auto& h : l.holders) out += edge(id, fmt::format("t{}", h.thread), "held by");
    if (l.state.locked && l.holders.empty()) {
      out += fmt::format("  u{} [shape=box, style=dashed, label=\"unknown holder\"];\n", hex(l.state.address));
      out += fmt::format("  {} -> u{} [label=\"held by\", style=dashed];\n", id, hex(l.state.address));
    }
    for (const auto& w : l.waiters) out += edge(fmt::format("t{}", w.thread), id, "waits for");
  }
  for (const auto& c : locks.conditions) {
    const std::string id = fmt::format("c{}", hex(c.address));
    out += fmt::format("  {} [shape=diamond, label={}];\n", id,
                       quote((c.name.empty() ? hex(c.address) : c.name) + "\n" + c.type));
    for (const auto& w : c.waiters) out += edge(fmt::format("t{}", w.thread), id, "waits on");
  }
  for (const auto& j : locks.joins)
    if (j.joined) out += edge(fmt::format("t{}", j.waiter.thread), fmt::format("t{}", *j.joined), "joins");
  return out + "}\n";
}

}  // namespace pyxray
