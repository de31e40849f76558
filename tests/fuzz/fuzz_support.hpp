// What the fuzz targets share: scenes (tests/synthetic/scene.hpp) whose written bytes a fuzz input
// replaces, and the checks that turn a decoder's misbehaviour into a crash libFuzzer reports.
//
// An input for a scene-based target is [selector byte][window bytes...]: the selector picks one of
// the scenes (one per CPython version), the rest is laid over the scene's windows (every range the
// builder wrote, in address order) as far as it reaches; bytes past the input keep the scene's own
// values. The address space layout never changes, so mutations explore the decoders' logic: pointers
// that lead elsewhere in the image, sizes and counts, flags, names. A seed is the scene's own bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "commands/session.hpp"
#include "scene.hpp"

namespace pyxray::fuzz {

using Bytes = std::vector<uint8_t>;

class MutableScene {
 public:
  explicit MutableScene(synthetic::Scene scene);

  // Lays `data` over the windows until the returned guard goes out of scope, which restores them.
  class Overlay {
   public:
    explicit Overlay(MutableScene& scene) : scene_(scene) {}
    ~Overlay();
    Overlay(const Overlay&) = delete;
    Overlay& operator=(const Overlay&) = delete;

   private:
    MutableScene& scene_;
  };
  [[nodiscard]] std::unique_ptr<Overlay> apply(std::span<const uint8_t> data);

  synthetic::Scene& scene() { return scene_; }
  std::unique_ptr<synthetic::SyntheticTarget> target(std::optional<int64_t> selected = std::nullopt) const;
  // The windows' bytes as the builder wrote them: an input that changes nothing.
  Bytes seed() const;

 private:
  friend class Overlay;
  void restore();
  synthetic::Scene scene_;
  std::vector<synthetic::Window> windows_;
  std::vector<std::byte> original_;
  std::size_t applied_ = 0;  // bytes laid over the windows by the last apply()
};

// One scene per version of synthetic::kBuilderVersions (with or without pymalloc arenas), built once.
std::vector<MutableScene>& scenes(bool pymalloc);

// Seeds for a scene-based target: "<name>-3.X" -> [selector][windows], one per scene.
struct Seed {
  std::string name;
  Bytes data;
};
std::vector<Seed> scene_seeds(const std::string& name, bool pymalloc, const Bytes& after_selector = {});

// Runs a command and aborts when it shows a decoder bug: an exception caught by Session::run
// ("internal error"), a failure that is not one line, or --json output that is not valid JSON.
void run_checked(Session& session, std::string_view name, std::string_view args);

// Aborts unless `text` is valid UTF-8 (what the front ends hand on to the debugger's Python).
void check_utf8(std::string_view text, std::string_view what);

// Aborts with a message (what libFuzzer then reports as a crash).
[[noreturn]] void finding(const std::string& what);

}  // namespace pyxray::fuzz

// Every target defines these two: the libFuzzer entry point and its seed inputs.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
std::vector<pyxray::fuzz::Seed> pyxray_fuzz_seeds();
