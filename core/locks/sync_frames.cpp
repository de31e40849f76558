#include "locks/sync_frames.hpp"

#include <array>
#include <string_view>

#include "interp/code.hpp"
#include "interp/frames.hpp"
#include "interp/locals.hpp"
#include "interp/objects.hpp"

namespace pyxray {

namespace {

// The standard library's files whose frames a blocked thread passes through. 2.7 spells the queue
// module Queue.py; importlib's bootstrap is frozen ("<frozen importlib._bootstrap>") from 3.3 on.
constexpr std::array<std::string_view, 4> kSyncFiles = {"threading.py", "queue.py", "Queue.py",
                                                        "importlib._bootstrap>"};
// Frames looked at: the deepest chain is Queue.get -> Condition.wait -> (C) lock.acquire, and
// Barrier.wait -> _wait -> Condition.wait_for -> Condition.wait.
constexpr std::size_t kMaxSyncFrames = 8;

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool in_sync_file(const std::string& filename) {
  for (auto f : kSyncFiles)
    if (ends_with(filename, f)) return true;
  return false;
}

struct RoleRule {
  std::string_view type;      // the type of `self`
  std::string_view function;  // "" for any method
  SyncRole role;
};

// Python 2.7 names its classes with a leading underscore (_Condition, _Event, ...).
constexpr RoleRule kRules[] = {
    {"Condition", "wait", SyncRole::ConditionWait},  {"Condition", "wait_for", SyncRole::ConditionWait},
    {"_Condition", "wait", SyncRole::ConditionWait}, {"_ModuleLock", "acquire", SyncRole::LockAcquire},
    {"_RLock", "acquire", SyncRole::LockAcquire},    {"_RLock", "__enter__", SyncRole::LockAcquire},
};

// Thread.join and 3.x's helper under it; the thread joined is `self`, a Thread or a subclass.
constexpr std::string_view kJoinFunctions[] = {"join", "_wait_for_tstate_lock"};

// A Thread (of any subclass) keeps its ident in _ident (2.7: _Thread__ident); nullopt for any other
// object, and for a thread not started (None).
std::optional<uint64_t> thread_ident(Objects& objects, uint64_t self) {
  for (const char* attr : {"_ident", "_Thread__ident"}) {
    auto v = objects.instance_attr(self, attr);
    if (!v || !*v) continue;
    auto ident = objects.read_int(**v);
    return ident ? std::optional<uint64_t>(static_cast<uint64_t>(*ident)) : std::nullopt;
  }
  return std::nullopt;
}

std::optional<SyncRole> role_of(const std::string& function, const SyncFrame& s) {
  for (const auto& r : kRules)
    if (r.type == s.type && (r.function.empty() || r.function == function)) return r.role;
  for (auto f : kJoinFunctions)
    if (function == f && s.thread_ident) return SyncRole::Join;
  return std::nullopt;
}

}  // namespace

std::vector<SyncFrame> sync_frames(PythonProcess& proc, Objects& objects, const PyStack& stack) {
  std::vector<SyncFrame> out;
  for (std::size_t i = 0; i < stack.frames.size() && i < kMaxSyncFrames; ++i) {
    const PyFrame& f = stack.frames[i];
    if (!f.code || !in_sync_file(f.code->filename)) break;
    auto locals = frame_locals(proc, objects, f);
    if (!locals) break;
    uint64_t self = 0;
    for (const auto& v : *locals)
      if (v.name == "self") self = v.value;
    if (!self) continue;  // a module-level helper of threading (e.g. _newname): look further out
    auto type = objects.type_name(self);
    if (!type) break;
    SyncFrame s{i, SyncRole::Outer, self, *type, thread_ident(objects, self)};
    s.role = role_of(f.code->name, s).value_or(SyncRole::Outer);
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace pyxray
