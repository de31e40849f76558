// Frame walking: the thread list, every frame model (frame objects <= 3.10, _PyInterpreterFrame via
// cframe 3.11-3.12 and via current_frame 3.13+, tagged 3.14), code objects, line tables, frame
// locals, the with blocks each frame is inside, thread names and status, over a mutated process
// image (fuzz_support.hpp), then the commands that render them.
#include "fuzz_support.hpp"
#include "interp/code.hpp"
#include "interp/frames.hpp"
#include "interp/locals.hpp"
#include "interp/objects.hpp"
#include "interp/python_process.hpp"
#include "interp/threads.hpp"
#include "interp/with_blocks.hpp"

using namespace pyxray;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  auto& all = fuzz::scenes(/*pymalloc=*/false);
  fuzz::MutableScene& scene = all[data[0] % all.size()];
  auto overlay = scene.apply({data + 1, size - 1});

  // The decoders directly: an exception here is uncaught, a crash with its stack.
  auto target = scene.target();
  if (auto proc = PythonProcess::open(*target)) {
    Objects objects(**proc);
    CodeCache codes(**proc, objects);
    if (auto threads = thread_states(**proc)) {
      for (const ThreadState& t : threads->threads) {
        PyStack stack = walk_stack(**proc, codes, t, 64);
        for (const PyFrame& f : stack.frames) {
          (void)frame_locals(**proc, objects, f);
          (void)entered_contexts(**proc, objects, f);
        }
      }
    }
  }

  // The commands, as a front end runs them (the main thread selected).
  Session session(scene.target(4242));
  fuzz::run_checked(session, "py-bt-all", "--json");
  fuzz::run_checked(session, "py-bt-all", "--locals");
  fuzz::run_checked(session, "py-bt", "--json --locals --max-frames 8");
  fuzz::run_checked(session, "py-up", "");
  fuzz::run_checked(session, "py-locals", "--json");
  fuzz::run_checked(session, "py-print", "total --json");
  fuzz::run_checked(session, "py-down", "--json");
  fuzz::run_checked(session, "py-list", "--json");
  return 0;
}

std::vector<fuzz::Seed> pyxray_fuzz_seeds() { return fuzz::scene_seeds("frames", false); }
