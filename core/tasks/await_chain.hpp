// A coroutine's chain of awaits: from a task's coroutine through each coroutine, generator or async
// generator it awaits (cr_await, gi_yieldfrom, ag_await) to the future at the bottom, as CPython's own
// _PyGen_yf finds each link, read from the suspended frames' value stacks.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/expected.hpp"
#include "interp/frames.hpp"

namespace pyxray {

class PythonProcess;
class Objects;
class CodeCache;

struct AwaitChain {
  std::vector<PyFrame> frames;  // the suspended frames, innermost first
  // What the innermost coroutine awaits that is not itself a coroutine: a future (through its
  // __await__ iterator), or another awaitable; 0 when it awaits nothing.
  uint64_t awaited = 0;
  std::optional<std::string> warning;  // why the chain was cut short
};

// A generator-like object's own frame (a PyFrameObject <= 3.10, the _PyInterpreterFrame inside it
// 3.11+): what a thread's stack shows while it runs. 0 when it has none (finished), or it is not one.
Expected<uint64_t> generator_frame(PythonProcess& proc, Objects& objects, uint64_t gen);

// The chain from `coro`, bounded by the `await-chain` limit, loops included.
AwaitChain follow_awaits(PythonProcess& proc, Objects& objects, CodeCache& codes, uint64_t coro);

}  // namespace pyxray
