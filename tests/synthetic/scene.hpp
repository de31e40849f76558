// One standard process scene per CPython version, built with ProcessBuilder: what the fuzzers mutate
// and what tests/unit/process_builder_test.cpp checks the decoders read back exactly.
//
//    1  import threading
//    ...
//   10  def inner(n):                   # main thread: <module> -> main() -> inner(), at line 15
//   ...
//   24  class Worker:
//   25      def run(self):              # worker thread: run() -> items() (a generator on 3.11+)
//   28      def items(self):
//   36  def main():
//   43  main()
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "process_builder.hpp"

namespace pyxray::synthetic {

struct SceneFrame {
  std::string function;
  int line = 0;
};

struct SceneThread {
  int64_t native_id = 0;
  uint64_t ident = 0;
  std::string name;                // threading's name
  std::vector<SceneFrame> frames;  // innermost first
};

struct Scene {
  std::unique_ptr<ProcessBuilder> builder;
  std::vector<SceneThread> threads;  // in the order py-bt-all lists them (newest thread state first)
  uint64_t root = 0;                 // a dict holding one object of every kind below
  // Objects and the repr the target's Python would print for each ("" where it has an address in it).
  std::vector<std::pair<uint64_t, std::string>> reprs;
};

// A process with two threads stopped in Python code, the objects they hold, the modules and (with
// pymalloc) an arena of small objects. version_hex: one of kBuilderVersions.
//
// free_threaded (kFreeThreadedVersions): the same scene in the free-threaded build, where the main
// thread is attached (running Python) and the worker detached, and on 3.14t the worker's frames run
// its own copy of the bytecode (tlbc_index 1), so that their lines are right only when the offset
// is taken from that copy.
Scene standard_scene(uint32_t version_hex, bool pymalloc = false, bool free_threaded = false);

}  // namespace pyxray::synthetic
