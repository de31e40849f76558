#include "locks/lock_report.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

#include "base/interrupt.hpp"
#include "base/limits.hpp"
#include "interp/code.hpp"
#include "interp/frames.hpp"
#include "interp/locals.hpp"
#include "interp/modules.hpp"
#include "interp/objects.hpp"
#include "interp/python_process.hpp"
#include "interp/threads.hpp"
#include "interp/with_blocks.hpp"
#include "locks/sync_frames.hpp"
#include "locks/wait_graph.hpp"
#include "target/blocked_syscall.hpp"

namespace pyxray {

namespace {

// The futex word a thread sleeps on, when it is blocked in a futex wait.
std::optional<uint64_t> futex_word(const LockThread& t) {
  if (!t.syscall) return std::nullopt;
  return futex_wait_address(*t.syscall);
}

class Analysis {
 public:
  Analysis(PythonProcess& proc, Objects& objects, const std::vector<LockThread>& threads, const LockOptions& options)
      : proc_(proc), objects_(objects), threads_(threads), options_(options) {
    report_.waiting_for.resize(threads.size());
    waiting_on_.resize(threads.size());
  }

  LockReport run() {
    // Locks that are no object: found by their symbols, matched by their waiters' futex like any.
    if (auto imports = import_lock(proc_)) {
      index_[imports->address] = report_.locks.size();
      globals_.push_back(imports->address);
      LockInfo info;
      info.state = std::move(*imports);
      info.name = "the import lock";
      report_.locks.push_back(std::move(info));
    }
    for (std::size_t i = 0; i < threads_.size(); ++i) {
      if (interrupt_requested()) break;
      if (threads_[i].stack) find_wait(i);
    }
    // Holders are looked for in every frame's with blocks: only when someone asks for them.
    const bool lock_waited = std::any_of(report_.waiting_for.begin(), report_.waiting_for.end(),
                                         [](const auto& w) { return w.has_value(); });
    if (options_.find_held || lock_waited) {
      for (std::size_t i = 0; i < threads_.size(); ++i) {
        if (interrupt_requested()) break;
        if (threads_[i].stack) find_holds(i);
      }
    }
    attach_owners();
    if (options_.find_held || !report_.locks.empty() || !report_.conditions.empty()) scan_globals();
    name_from_frames();
    drop_idle_locks();
    report_.deadlocks = find_deadlocks(report_);
    return std::move(report_);
  }

 private:
  // The lock at `obj`, recorded once; nullptr when it is not a lock (or cannot be read: warned).
  LockInfo* lock_at(uint64_t obj) {
    if (auto it = index_.find(obj); it != index_.end()) return &report_.locks[it->second];
    if (not_locks_.count(obj)) return nullptr;
    auto state = read_lock(proc_, objects_, obj);
    if (!state) {
      report_.warnings.push_back(fmt_warning(obj, state.error().message));
      not_locks_.insert(obj);
      return nullptr;
    }
    if (!*state) {
      not_locks_.insert(obj);
      return nullptr;
    }
    index_[obj] = report_.locks.size();
    LockInfo info;
    info.state = std::move(**state);
    report_.locks.push_back(std::move(info));
    return &report_.locks.back();
  }

  static std::string fmt_warning(uint64_t obj, const std::string& why) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(obj));
    return std::string("lock at ") + buf + " cannot be read (" + why + "): its holder is unknown";
  }

  // The managers of the thread's `with` blocks: a lock is held by the frame inside its block, and a
  // Condition's block holds the Condition's lock.
  void find_holds(std::size_t t) {
    const auto& frames = threads_[t].stack->frames;
    for (std::size_t f = 0; f < frames.size(); ++f) {
      auto entered = entered_contexts(proc_, objects_, frames[f]);
      if (!entered) continue;  // nothing is claimed for a frame that cannot be read
      for (const auto& e : *entered) {
        uint64_t lock = e.manager;
        if (auto type = objects_.type_name(lock); type && (*type == "Condition" || *type == "_Condition")) {
          // Condition.wait releases the lock until it is notified: its caller's with block holds
          // nothing meanwhile.
          if (lock == waiting_on_[t]) continue;
          auto inner = objects_.instance_attr(lock, *type == "Condition" ? "_lock" : "_Condition__lock");
          if (!inner || !*inner) continue;
          lock = **inner;
        }
        LockInfo* info = lock_at(lock);
        if (!info || !info->state.locked) continue;
        // An RLock's owner, when it records one, must be this thread: anything else is a stale or
        // misread slot, and is dropped rather than reported.
        if (info->state.owner && *info->state.owner != threads_[t].state->thread_id) continue;
        add_holder(*info, {t, f});
      }
    }
  }

  static void add_holder(LockInfo& info, ThreadAt at) {
    for (auto& h : info.holders) {
      if (h.thread != at.thread) continue;
      if (!h.frame) h.frame = at.frame;  // the outermost frame holding it is the one named
      return;
    }
    info.holders.push_back(at);
    info.holder_known = true;
  }

  void find_wait(std::size_t t) {
    const PyStack& stack = *threads_[t].stack;
    auto sync = sync_frames(proc_, objects_, stack);
    // A join waits for a thread to end, however it waits (2.7 on a Condition, 3.x on a lock).
    for (const auto& s : sync) {
      if (s.role == SyncRole::Join) {
        add_join(t, s);
        return;
      }
    }
    for (const auto& s : sync) {
      if (s.role == SyncRole::ConditionWait) {
        waiting_on_[t] = s.self;
        // The primitive the caller used is the outermost one built on this Condition.
        const SyncFrame* outer = &s;
        for (const auto& o : sync)
          if (o.frame > s.frame && o.role == SyncRole::Outer && !o.thread_ident) outer = &o;
        add_condition_waiter(*outer, s.self, {t, s.frame});
        return;
      }
      if (s.role == SyncRole::LockAcquire) {
        if (LockInfo* info = lock_at(s.self)) wait_for(t, *info, s.frame);
        return;
      }
    }
    // Blocked in C: the futex it sleeps on names the lock, matched against the locks its innermost
    // frame refers to (locals and value stack, bound methods followed to their object).
    auto word = futex_word(threads_[t]);
    if (!word || stack.frames.empty()) return;
    std::set<uint64_t> keys = {*word};
    if (auto parked = parked_on(proc_, *word)) keys.insert(*parked);
    auto found = candidates(stack.frames.front());
    found.insert(found.begin(), globals_.begin(), globals_.end());
    for (uint64_t candidate : found) {
      LockInfo* info = lock_at(candidate);
      if (!info || !keys.count(info->state.wait_key)) continue;
      wait_for(t, *info, 0);
      return;
    }
  }

  void wait_for(std::size_t t, LockInfo& info, std::size_t frame) {
    info.waiters.push_back({t, frame});
    report_.waiting_for[t] = static_cast<std::size_t>(&info - report_.locks.data());
  }

  void add_condition_waiter(const SyncFrame& outer, uint64_t condition, ThreadAt at) {
    auto it = std::find_if(report_.conditions.begin(), report_.conditions.end(),
                           [&](const ConditionInfo& c) { return c.address == outer.self; });
    if (it == report_.conditions.end()) {
      report_.conditions.push_back({outer.self, outer.type, "", condition, {}});
      it = std::prev(report_.conditions.end());
    }
    it->waiters.push_back(at);
  }

  void add_join(std::size_t t, const SyncFrame& s) {
    JoinInfo j;
    j.waiter = {t, s.frame};
    if (!s.thread_ident) return;
    j.ident = *s.thread_ident;
    for (std::size_t i = 0; i < threads_.size(); ++i)
      if (threads_[i].state && threads_[i].state->thread_id == j.ident) j.joined = i;
    report_.joins.push_back(j);
  }

  // Objects the innermost frame refers to: its slots, and the object a bound method is bound to
  // (lock.acquire, or __exit__ on the stack of a with statement being entered).
  std::vector<uint64_t> candidates(const PyFrame& frame) {
    std::vector<uint64_t> out;
    auto slots = frame_slots(proc_, frame);
    if (!slots) return out;
    const Layout& L = proc_.layout();
    for (uint64_t v : *slots) {
      if (!v) continue;
      out.push_back(v);
      auto type = objects_.type_name(v);
      if (!type) continue;
      int64_t self_field = kAbsent;
      if (*type == "builtin_function_or_method") self_field = L.cfunction_m_self;
      if (*type == "method" || *type == "instancemethod") self_field = L.method_im_self;
      if (self_field == kAbsent) continue;
      if (auto self = proc_.mem().read_ptr(v + static_cast<uint64_t>(self_field)); self && *self) out.push_back(*self);
    }
    return out;
  }

  // Locks that record their owner: the owning thread holds them, in its frame inside a `with` block
  // when find_holds saw one.
  void attach_owners() {
    for (auto& info : report_.locks) {
      if (!info.state.locked || !info.state.owner) continue;
      bool found = false;
      for (std::size_t i = 0; i < threads_.size(); ++i) {
        if (!threads_[i].state || threads_[i].state->thread_id != *info.state.owner) continue;
        add_holder(info, {i, std::nullopt});
        found = true;
      }
      // An owner that is no thread any more (it ended without releasing) is still a known owner.
      if (!found) info.holder_known = true;
    }
  }

  // Module globals: names for the locks and conditions found, and the locked locks nobody waits for
  // (held through acquire(), or inside a with block).
  void scan_globals() {
    std::set<uint64_t> interps;
    for (const auto& t : threads_)
      if (t.state) interps.insert(t.state->interp);
    std::size_t modules_seen = 0;
    for (uint64_t interp : interps) {
      auto modules = sys_modules(proc_, interp);
      if (!modules || !*modules) continue;
      (void)objects_.dict_items(*modules, [&](uint64_t key, uint64_t module) {
        if (interrupt_requested() || ++modules_seen > static_cast<std::size_t>(limits().modules)) return false;
        auto module_name = objects_.read_text(key, static_cast<std::size_t>(limits().name_length));
        auto dict = module_dict(proc_, module);
        if (!module_name || !dict || !*dict) return true;
        const std::string prefix = display_module(*module_name, module);
        (void)objects_.dict_items(*dict, [&](uint64_t name_obj, uint64_t value) {
          if (!is_interesting(value)) return true;
          auto name = objects_.read_text(name_obj, static_cast<std::size_t>(limits().name_length));
          if (name) give_name(value, prefix + "." + *name);
          return true;
        });
        return true;
      });
    }
  }

  // `__main__` is shown as the script it runs ("service" for service.py), as users call it.
  std::string display_module(const std::string& name, uint64_t module) {
    if (name != "__main__") return name;
    auto dict = module_dict(proc_, module);
    if (!dict || !*dict) return name;
    auto file = objects_.dict_get_str(*dict, "__file__");
    if (!file || !*file) return name;
    auto path = objects_.read_text(**file, static_cast<std::size_t>(limits().filename_length));
    if (!path) return name;
    std::string stem = path->substr(path->find_last_of('/') + 1);
    if (auto dot = stem.rfind('.'); dot != std::string::npos && dot > 0) stem.resize(dot);
    return stem.empty() ? name : stem;
  }

  // Whether a global's value is worth a name: one of the objects reported, or a lock held.
  bool is_interesting(uint64_t value) {
    if (index_.count(value)) return true;
    for (const auto& c : report_.conditions)
      if (c.address == value) return true;
    if (!options_.find_held || not_locks_.count(value)) return false;
    auto type = objects_.type_name(value);
    if (!type) return false;
    if (*type != "_thread.lock" && *type != "thread.lock" && *type != "_thread.RLock" && *type != "_RLock") {
      not_locks_.insert(value);
      return false;
    }
    LockInfo* info = lock_at(value);
    return info != nullptr;
  }

  void give_name(uint64_t obj, const std::string& name) {
    if (auto it = index_.find(obj); it != index_.end()) {
      auto& n = report_.locks[it->second].name;
      if (n.empty()) n = name;
    }
    for (auto& c : report_.conditions)
      if (c.address == obj && c.name.empty()) c.name = name;
  }

  // Attributes of `self` in the frames that hold or wait: "Pool._lock".
  void name_from_frames() {
    std::set<std::pair<std::size_t, std::size_t>> frames;
    for (const auto& l : report_.locks)
      for (const auto* list : {&l.holders, &l.waiters})
        for (const auto& at : *list)
          if (at.frame) frames.insert({at.thread, *at.frame});
    for (const auto& c : report_.conditions)
      for (const auto& at : c.waiters) frames.insert({at.thread, at.frame.value_or(0)});
    for (auto [t, f] : frames) {
      if (!threads_[t].stack || f >= threads_[t].stack->frames.size()) continue;
      // The waiter's own frame and the one that called it (the caller of Condition.wait holds the
      // Queue in `self`).
      for (std::size_t g = f; g < std::min(f + 2, threads_[t].stack->frames.size()); ++g) {
        auto locals = frame_locals(proc_, objects_, threads_[t].stack->frames[g]);
        if (!locals) continue;
        for (const auto& v : *locals) {
          if (v.name != "self") continue;
          auto type = objects_.type_name(v.value);
          if (!type) continue;
          (void)objects_.instance_items(v.value, [&](uint64_t key, uint64_t value) {
            if (auto attr = objects_.read_text(key, static_cast<std::size_t>(limits().name_length)))
              give_name(value, short_type(*type) + "." + *attr);
            return true;
          });
        }
      }
    }
  }

  static std::string short_type(const std::string& type) {
    auto dot = type.rfind('.');
    return dot == std::string::npos ? type : type.substr(dot + 1);
  }

  // Locks found while looking (slots, globals) that nobody holds or waits for are not reported.
  void drop_idle_locks() {
    std::vector<LockInfo> kept;
    std::vector<std::size_t> new_index(report_.locks.size(), SIZE_MAX);
    for (std::size_t i = 0; i < report_.locks.size(); ++i) {
      auto& l = report_.locks[i];
      const bool held = l.state.locked && (!l.holders.empty() || !l.name.empty() || l.holder_known);
      if (!held && l.waiters.empty()) continue;
      new_index[i] = kept.size();
      kept.push_back(std::move(l));
    }
    report_.locks = std::move(kept);
    for (auto& w : report_.waiting_for)
      if (w) w = new_index[*w] == SIZE_MAX ? std::nullopt : std::optional<std::size_t>(new_index[*w]);
    index_.clear();
  }

  PythonProcess& proc_;
  Objects& objects_;
  const std::vector<LockThread>& threads_;
  LockOptions options_;
  LockReport report_;
  std::unordered_map<uint64_t, std::size_t> index_;  // lock address -> report_.locks
  std::set<uint64_t> not_locks_;
  std::vector<uint64_t> waiting_on_;
  std::vector<uint64_t> globals_;  // locks that are C statics, candidates for every waiting thread  // per thread: the
                                   // Condition it waits on in Condition.wait, or 0
};

}  // namespace

LockReport analyze_locks(PythonProcess& proc, Objects& objects, const std::vector<LockThread>& threads,
                         const LockOptions& options) {
  return Analysis(proc, objects, threads, options).run();
}

}  // namespace pyxray
