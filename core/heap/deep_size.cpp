#include "heap/deep_size.hpp"

#include <unordered_set>
#include <vector>

#include <fmt/format.h>

#include "base/interrupt.hpp"
#include "base/limits.hpp"
#include "heap/heap_context.hpp"

namespace pyxray {

bool skipped_in_deep(const TypeInfo& t) {
  return t.kind == BaseKind::Type || t.kind == BaseKind::Module || t.kind == BaseKind::Function;
}

DeepSize deep_size(HeapContext& ctx, uint64_t root, uint64_t* budget, const std::function<void(uint64_t)>& on_visit) {
  DeepSize d;
  std::unordered_set<uint64_t> seen{root};
  std::vector<uint64_t> stack{root};
  while (!stack.empty()) {
    if (interrupt_requested()) {
      d.partial = d.interrupted = true;
      break;
    }
    if (d.objects >= static_cast<uint64_t>(limits().deep_objects)) {  // more to see, and no room left
      d.partial = d.at_limit = true;
      break;
    }
    if (budget && *budget == 0) {
      d.partial = d.out_of_budget = true;
      break;
    }
    uint64_t a = stack.back();
    stack.pop_back();
    if (budget) --*budget;
    auto note_unreadable = [&](const std::string& why) {
      if (d.unreadable++ == 0) {
        const TypeInfo* t = ctx.validated(a);
        d.first_unreadable = fmt::format("0x{:x} ({}): {}", a, t ? t->name : "?", why);
      }
      d.partial = true;
    };
    auto size = ctx.sizer.getsizeof(a);
    if (!size) {
      note_unreadable(size.error().message);
      continue;
    }
    d.bytes += *size;
    ++d.objects;
    if (on_visit) on_visit(a);
    auto r = ctx.refs.all_refs(a, RefMode::Traverse, [&](uint64_t ref) {
      // One object may hold millions of references (a big list): Ctrl-C must not wait for them all.
      if (d.interrupted || (d.interrupted = interrupt_requested())) return;
      if (seen.contains(ref)) return;
      const TypeInfo* t = ctx.validated(ref);
      if (!t || skipped_in_deep(*t)) return;
      seen.insert(ref);
      stack.push_back(ref);
    });
    if (!r) note_unreadable(r.error().message);
  }
  // An interrupt while the last object's references were read can leave the stack empty: the loop
  // then ends by itself, but what it measured is still cut short.
  if (d.interrupted) d.partial = true;
  return d;
}

}  // namespace pyxray
