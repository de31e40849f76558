// Heap walking: pymalloc's arena vector, arenas and pool headers (read_pymalloc, the heap walker's
// block scan and free lists), the GC lists and the objects found outside the arenas, type
// validation, sys.getsizeof, references; then every heap command over the mutated image.
#include <fmt/format.h>

#include "fuzz_support.hpp"
#include "heap/gc_lists.hpp"
#include "heap/pymalloc.hpp"
#include "interp/python_process.hpp"

using namespace pyxray;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  auto& all = fuzz::scenes(/*pymalloc=*/true);
  fuzz::MutableScene& scene = all[data[0] % all.size()];
  auto overlay = scene.apply({data + 1, size - 1});

  auto target = scene.target();
  if (auto proc = PythonProcess::open(*target)) {
    (void)read_pymalloc(**proc);
    (void)gc_lists(**proc);
    (void)object_allocator(**proc);
  }

  Session session(scene.target(4242));
  const uint64_t root = scene.scene().root;
  const uint64_t some = scene.scene().reprs.front().first;
  fuzz::run_checked(session, "py-heap-summary", "--json");
  fuzz::run_checked(session, "py-arenas", "--json");
  fuzz::run_checked(session, "py-biggest", "3 --json");
  fuzz::run_checked(session, "py-sizeof", fmt::format("{:#x} --deep --json", root));
  fuzz::run_checked(session, "py-referrers", fmt::format("{:#x} --json", some));
  return 0;
}

std::vector<fuzz::Seed> pyxray_fuzz_seeds() { return fuzz::scene_seeds("heap", true); }
