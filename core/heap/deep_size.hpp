// The deep size of an object: sys.getsizeof of it and of everything it references, recursively, each
// object once (gc.get_referents() plus dict keys), never entering types, modules or functions (they
// belong to the program, not to the data that holds them). py-sizeof --deep asks it for one object,
// py-biggest --deep for every candidate container, all drawing on one shared visit budget.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace pyxray {

struct HeapContext;
struct TypeInfo;

struct DeepSize {
  uint64_t bytes = 0, objects = 0;
  bool partial = false;
  bool at_limit = false;         // stopped at the deep-objects limit
  bool out_of_budget = false;    // stopped because the shared budget (deep-visits) ran out
  bool interrupted = false;      // the user interrupted the command (core/base/interrupt.hpp)
  uint64_t unreadable = 0;       // objects that could not be sized, or whose references could not be read
  std::string first_unreadable;  // the first of them and why: "0x... (list): cannot read ..."
};

// Objects a deep size does not enter (nor counts): types, modules, functions.
bool skipped_in_deep(const TypeInfo& t);

// Visits at most the deep-objects limit, and at most `*budget` objects when a budget is given (and
// takes the visits from it). `on_visit`, when given, is told every object counted.
DeepSize deep_size(HeapContext& ctx, uint64_t root, uint64_t* budget = nullptr,
                   const std::function<void(uint64_t)>& on_visit = {});

}  // namespace pyxray
