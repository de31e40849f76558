// Heap snapshot files (py-heap-summary --save): decode_snapshot over arbitrary bytes, and when a file
// decodes, everything py-heap-diff does with it: its objects decoded from their columns and a diff of
// three copies (the suspects, their generations and samples). A bad file must be one phrase, never a
// crash, a hang or an allocation the input did not pay for.
//
// Input: the file's bytes.
#include <string>

#include "fuzz_support.hpp"
#include "heap/heap_diff.hpp"
#include "heap/heap_snapshot.hpp"

using namespace pyxray;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto s = decode_snapshot(std::span<const uint8_t>(data, size));
  if (!s) {
    if (s.error().message.empty() || s.error().message.find('\n') != std::string::npos) __builtin_trap();
    return 0;
  }
  (void)snapshot_objects(*s);
  HeapSnapshot grown = *s;
  for (auto& t : grown.types) ++t.count;  // every type grows: every type is a suspect
  HeapSnapshot more = grown;
  for (auto& t : more.types) ++t.count;
  (void)diff_snapshots({&*s, &grown, &more});
  return 0;
}

std::vector<fuzz::Seed> pyxray_fuzz_seeds() {
  HeapSnapshot s;
  s.process = {"live", 4242, 123456, "boot", "/usr/bin/python3.11"};
  s.python_version = "3.11.7";
  s.pyxray_version = "0.1.0";
  s.taken_at = "2026-12-07T18:59:01Z";
  s.types = {{"builtins", "dict", "dict", 0x7f0000001000, 2, 464, 232, {}},
             {"app", "Widget", "app.Widget", 0x5600000020, 2, 96, 48, {}}};
  s.objects = 4;
  s.bytes = 560;
  std::vector<fuzz::Seed> out;
  const std::string types = encode_snapshot(s);
  out.push_back({"types", fuzz::Bytes(types.begin(), types.end())});
  ObjectColumns c;
  c.add(0x7f5340070200, 0, 232);
  c.add(0x7f5340070310, 1, 48);
  c.add(0x55d1c0000040, 1, 48);
  c.add(0x7f5340070100, 0, 232);
  c.finish(s);
  const std::string objects = encode_snapshot(s);
  out.push_back({"objects", fuzz::Bytes(objects.begin(), objects.end())});
  s.generation_names = {"untracked", "gen0", "gen1", "gen2", "permanent", "unknown"};
  s.types[0].gens = {0, 1, 0, 1, 0, 0};
  s.types[1].gens = {0, 0, 0, 1, 1, 0};
  s.gen_col = {1, 3, 4, 3};
  const std::string gens = encode_snapshot(s);
  out.push_back({"generations", fuzz::Bytes(gens.begin(), gens.end())});
  return out;
}
