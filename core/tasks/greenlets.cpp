#include "tasks/greenlets.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "base/limits.hpp"
#include "heap/heap_walk.hpp"
#include "heap/object_size.hpp"
#include "heap/referents.hpp"
#include "interp/code.hpp"
#include "interp/frames.hpp"
#include "interp/modules.hpp"
#include "interp/objects.hpp"
#include "interp/python_process.hpp"
#include "layout/version_traits.hpp"
#include "tasks/greenlet_layout.hpp"

namespace pyxray {
namespace {

// Not limits (docs/limits.md): bounds that only a corrupt target reaches. No real class hierarchy
// is 64 deep along tp_base, and a greenlet's parent chain ends at its thread's main greenlet.
constexpr int kMaxBaseDepth = 64;
constexpr int kMaxParentChain = 4096;
// A thread's stack lies below its struct pthread (glibc), never further than this from it.
constexpr uint64_t kMaxStackSpan = uint64_t{1} << 32;
constexpr uint64_t kMainMarker = ~uint64_t{0};  // StackState::stack_stop of a main greenlet: (char*)-1

struct GreenletModule {
  uint64_t type = 0;    // greenlet.greenlet
  std::string version;  // greenlet.__version__, "" when unreadable
};

// greenlet's type and release from the target's sys.modules; nullopt when it never imported greenlet.
Expected<std::optional<GreenletModule>> greenlet_module(PythonProcess& proc, Objects& objects) {
  PYX_TRY(interps, interpreters(proc));
  if (interps.empty()) return std::optional<GreenletModule>{};
  PYX_TRY(modules, sys_modules(proc, interps.front()));
  if (!modules) return std::optional<GreenletModule>{};
  GreenletModule out;
  bool imported = false;
  // The C extension is greenlet._greenlet; the package re-exports the type and holds __version__.
  for (const char* name : {"greenlet._greenlet", "greenlet"}) {
    PYX_TRY(module, objects.dict_get_str(modules, name));
    if (!module || !*module) continue;
    imported = true;
    auto dict = module_dict(proc, *module);
    if (!dict || !*dict) continue;
    if (!out.type) {
      if (auto type = objects.dict_get_str(*dict, "greenlet"); type && *type) out.type = **type;
    }
    if (out.version.empty()) {
      if (auto v = objects.dict_get_str(*dict, "__version__"); v && *v)
        out.version = objects.read_text(**v, 64).value_or("");
    }
  }
  if (!imported) return std::optional<GreenletModule>{};
  return std::optional<GreenletModule>{out};
}

// Whether `type` is greenlet.greenlet or derives from it (gevent's Greenlet, its Hub), along
// tp_base: greenlet's subclasses are single-inheritance C or Python classes.
class GreenletTypes {
 public:
  GreenletTypes(PythonProcess& proc, uint64_t greenlet_type) : proc_(proc), greenlet_type_(greenlet_type) {}

  bool is_greenlet(uint64_t type) {
    if (auto it = known_.find(type); it != known_.end()) return it->second;
    bool yes = false;
    uint64_t t = type;
    for (int depth = 0; t && depth < kMaxBaseDepth; ++depth) {
      if (t == greenlet_type_) {
        yes = true;
        break;
      }
      t = proc_.mem().read_ptr(t + proc_.layout().type_tp_base).value_or(0);
    }
    known_.emplace(type, yes);
    return yes;
  }

 private:
  PythonProcess& proc_;
  uint64_t greenlet_type_;
  std::unordered_map<uint64_t, bool> known_;
};

struct Found {
  uint64_t addr = 0;
  std::string type;
};

// Every greenlet object in the heap, by its type.
Expected<std::vector<Found>> heap_greenlets(PythonProcess& proc, Objects& objects, uint64_t greenlet_type,
                                            TasksReport& report) {
  TypeCache types(proc, objects);
  ObjectSizer sizer(proc, types);
  Referents refs(proc, types);
  GreenletTypes kinds(proc, greenlet_type);
  std::vector<Found> found;
  const auto max = static_cast<std::size_t>(limits().tasks);
  bool cut = false;
  HeapWalkOptions options;
  options.on_object = [&](const HeapObject& o) {
    if (!o.type || !kinds.is_greenlet(o.type->addr)) return;
    if (found.size() < max) found.push_back({o.addr, o.type->name});
    else cut = true;
  };
  HeapWalker walker(proc, objects, types, sizer, refs);
  PYX_TRY(stats, walker.run(options));
  if (stats.partial) {
    report.warnings.push_back("the heap walk was partial, so greenlets may be missing: " +
                              (stats.warnings.empty() ? std::string("see py-heap-summary") : stats.warnings.front()));
  }
  if (cut) report.warnings.push_back(fmt::format("greenlets cut at {} ({})", max, raise_hint("tasks")));
  std::sort(found.begin(), found.end(), [](const Found& a, const Found& b) { return a.addr < b.addr; });
  return found;
}

// What pyxray reads of one greenlet's implementation object.
struct Impl {
  uint64_t pimpl = 0;
  uint64_t vtable = 0;  // tells a MainGreenlet from a UserGreenlet when stack_stop no longer does
  uint64_t stack_start = 0, stack_stop = 0;
  uint64_t current_frame = 0;  // the innermost frame it saved (3.11+: a _PyInterpreterFrame)
  bool is_main = false;        // a thread's main greenlet
  uint64_t main = 0;           // its thread's main greenlet (a PyGreenlet), 0 when not known
  bool main_recorded = false;  // `main` is the one greenlet recorded when it started, not inferred
  uint64_t parent = 0;         // user greenlets
};

Expected<Impl> read_impl(Memory& m, const GreenletLayout& G, uint64_t greenlet) {
  Impl impl;
  PYX_TRY(pimpl, m.read_ptr(greenlet + G.pimpl));
  if (!pimpl) return fail("it has no implementation object (being created or destroyed)");
  impl.pimpl = pimpl;
  PYX_TRY(vtable, m.read_ptr(pimpl));
  PYX_TRY(start, m.read_ptr(pimpl + G.stack_start));
  PYX_TRY(stop, m.read_ptr(pimpl + G.stack_stop));
  impl.vtable = vtable;
  impl.stack_start = start;
  impl.stack_stop = stop;
  impl.current_frame = m.read_ptr(pimpl + G.current_frame).value_or(0);
  return impl;
}

// Which greenlets are main greenlets, and each one's main greenlet. A main greenlet's stack_stop is
// -1 while its thread lives; once the thread has exited, greenlet clears the stacks of its greenlets
// and only the C++ class (its vtable, the same for every main greenlet) still tells.
void link_mains(Memory& m, const GreenletLayout& G, std::unordered_map<uint64_t, Impl>& impls) {
  std::unordered_set<uint64_t> main_vtables;
  for (const auto& [addr, impl] : impls) {
    if (impl.stack_stop == kMainMarker) main_vtables.insert(impl.vtable);
  }
  for (auto& [addr, impl] : impls) {
    impl.is_main = impl.stack_stop == kMainMarker || main_vtables.count(impl.vtable) != 0;
    if (impl.is_main) {
      impl.main = addr;
    } else {
      impl.main = m.read_ptr(impl.pimpl + G.main_greenlet).value_or(0);
      impl.main_recorded = impl.main != 0;
      impl.parent = m.read_ptr(impl.pimpl + G.parent).value_or(0);
    }
  }
  // A greenlet that never ran has no main greenlet yet: it will run on its parent's thread.
  for (auto& [addr, impl] : impls) {
    uint64_t g = impl.parent;
    for (int i = 0; !impl.main && g && i < kMaxParentChain; ++i) {
      auto it = impls.find(g);
      if (it == impls.end()) break;
      impl.main = it->second.main;
      g = it->second.parent;
    }
  }
}

// A greenlet's stack addresses lie in its thread's C stack. glibc puts each thread's struct
// pthread (its pthread_t: Python's thread ident) right above the thread's stack, so the nearest
// ident above an address names its thread; the initial thread's stack lies above every mapping
// that holds a pthread_t, so an address with no ident above it is the main thread's.
const ThreadState* thread_of_stack_address(uint64_t addr, const std::vector<ThreadState>& threads,
                                           const ThreadState* main_thread) {
  const ThreadState* best = nullptr;
  for (const auto& t : threads) {
    if (t.thread_id > addr && t.thread_id - addr <= kMaxStackSpan && (!best || t.thread_id < best->thread_id))
      best = &t;
  }
  return best ? best : main_thread;
}

}  // namespace

Expected<void> find_greenlets(PythonProcess& proc, Objects& objects, CodeCache& codes,
                              const std::vector<ThreadState>& threads, TasksReport& report) {
  PYX_TRY(module, greenlet_module(proc, objects));
  report.greenlet = module.has_value();
  if (!module) return {};
  if (!module->type) {
    report.warnings.push_back("greenlet is imported but its greenlet type could not be read");
    return {};
  }
  PYX_TRY(found, heap_greenlets(proc, objects, module->type, report));

  const GreenletLayout* G = find_greenlet_layout(module->version, proc.version());
  if (!G) {
    report.warnings.push_back(
        fmt::format("greenlet {} on Python {}.{}: pyxray has no layout for it (it knows {}), so greenlets are listed "
                    "without state, thread or stack",
                    module->version.empty() ? "(unknown version)" : module->version, proc.version().major,
                    proc.version().minor, known_greenlet_layouts()));
  }

  Memory& m = proc.mem();
  std::unordered_map<uint64_t, Impl> impls;
  std::unordered_map<uint64_t, std::string> impl_errors;
  if (G) {
    for (const auto& f : found) {
      auto impl = read_impl(m, *G, f.addr);
      if (impl) {
        impls.emplace(f.addr, *impl);
      } else {
        impl_errors.emplace(f.addr, impl.error().message);
      }
    }
    link_mains(m, *G, impls);
  }

  // Each main greenlet stands for one thread: the greenlet running there, and which thread it is.
  const ThreadState* main_thread = nullptr;
  for (const auto& t : threads) {
    if (t.native_id && *t.native_id == proc.target().pid()) main_thread = &t;
  }
  struct PerThread {
    uint64_t current = 0;  // the running greenlet
    bool thread_alive = true;
    std::map<const ThreadState*, int> votes;
    const ThreadState* thread = nullptr;
  };
  std::unordered_map<uint64_t, PerThread> per_main;
  for (const auto& [addr, impl] : impls) {
    if (!impl.main) continue;
    PerThread& p = per_main[impl.main];
    if (impl.is_main) {
      uint64_t ts = m.read_ptr(impl.pimpl + G->thread_state).value_or(0);
      p.thread_alive = ts != 0;
      if (ts) p.current = m.read_ptr(ts + G->ts_current_greenlet).value_or(0);
    }
    // gevent's hub records its thread's ident: exact, where there is one.
    if (auto ident = objects.instance_attr(addr, "thread_ident"); ident && *ident) {
      if (auto v = objects.read_int(**ident)) {
        for (const auto& t : threads) {
          if (t.thread_id == static_cast<uint64_t>(*v)) p.votes[&t] += 1000;
        }
      }
    }
    for (uint64_t a : {impl.stack_start, impl.stack_stop}) {
      if (a <= 1 || a == kMainMarker) continue;
      if (const ThreadState* t = thread_of_stack_address(a, threads, main_thread)) p.votes[t] += 1;
    }
  }
  for (auto& [main, p] : per_main) {
    if (!p.thread_alive) continue;
    int best = 0;
    for (const auto& [t, n] : p.votes) {
      if (n > best) best = n, p.thread = t;
    }
  }

  const int max_frames = static_cast<int>(limits().frames);
  for (const auto& f : found) {
    Greenlet out;
    out.address = f.addr;
    out.type = f.type;
    if (auto name = objects.instance_attr(f.addr, "name"); name && *name) {
      out.name = objects.read_text(**name, static_cast<std::size_t>(limits().name_length)).value_or("");
    }
    auto it = impls.find(f.addr);
    if (it == impls.end()) {
      out.state = "unknown";
      if (auto e = impl_errors.find(f.addr); e != impl_errors.end()) out.warnings.push_back(e->second);
      report.greenlets.push_back(std::move(out));
      continue;
    }
    const Impl& impl = it->second;
    const PerThread* p = nullptr;
    if (auto pt = per_main.find(impl.main); pt != per_main.end()) p = &pt->second;
    if (p && p->thread && p->thread->native_id) out.thread = *p->thread->native_id;
    out.running = p && p->current == f.addr;
    if (p && !p->thread_alive && (impl.is_main || impl.main_recorded)) {
      // Its thread exited: it can never run again, and greenlet calls it dead too.
      out.state = "dead";
    } else if (impl.is_main) {
      out.state = out.running ? "running" : "suspended";
    } else if (impl.stack_stop == 0) {
      out.state = "not_started";
    } else if (impl.stack_start == 0) {
      out.state = "dead";
    } else {
      out.state = out.running ? "running" : "suspended";
    }
    if (out.state == "dead" || out.state == "not_started") out.thread.reset();

    // A suspended greenlet's saved chain ends at its oldest frame: greenlet starts each one with no
    // current frame (3.11) or relinks the chain it saves past the C stack it shares and ends it
    // there (3.x on 3.12+). The running one's frames are its thread's.
    PyStack stack;
    if (out.state == "running") {
      if (!p || !p->thread) {
        out.warnings.push_back("it runs on a thread pyxray could not tell, so its frames are not shown");
      } else {
        stack = walk_stack(proc, codes, *p->thread, max_frames);
      }
    } else if (out.state == "suspended" && impl.current_frame) {
      stack = walk_frames_from(proc, codes, impl.current_frame, max_frames);
    }
    out.stack = std::move(stack.frames);
    if (stack.warning) out.warnings.push_back(*stack.warning);
    report.greenlets.push_back(std::move(out));
  }
  return {};
}

}  // namespace pyxray
