// py-heap-summary --generations' columns and JSON: how many of each type's objects are in each GC
// generation, named as the version names its lists (gen0..gen2, or 3.14.0-3.14.4's young and old
// spaces; permanent where gc.freeze() exists), "untracked" for objects on no list by design (not a
// GC type, or untracked), "unknown" when a tracked object's list could not be followed.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "heap/gc_generations.hpp"

namespace pyxray {

struct TypeInfo;
struct VersionTraits;

class GenerationColumns {
 public:
  // `g` null: no --generations, every method gives nothing.
  GenerationColumns(const GenerationResult* g, const VersionTraits& vt);
  // A type's counts, with its untracked objects: those of its `count` the labeller never saw.
  GenCounts of(const TypeInfo& t, uint64_t count) const;
  GenCounts total(uint64_t objects) const;
  nlohmann::ordered_json json_of(const GenCounts& c) const;
  // Text: widen the columns to fit a shown row, then the header and a row's cells (each followed by
  // two spaces, to go before the Kind column), and the totals line.
  void fit(const GenCounts& c);
  std::string header() const;
  std::string cells(const GenCounts& c) const;
  std::string total_text(uint64_t objects) const;

 private:
  bool shown(int code, bool everything) const;

  const GenerationResult* g_;
  std::array<std::string, kGenCodes> names_;
  bool permanent_;
  bool unknown_ = false;
  std::array<std::size_t, kGenCodes> width_{};
};

}  // namespace pyxray
