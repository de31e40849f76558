#include "sample/pprof.hpp"

#include <cmath>
#include <map>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "base/gzip.hpp"
#include "base/utf8.hpp"

namespace pyxray {
namespace {

// The protobuf wire format, as much of it as profile.proto needs: varints (wire type 0) and
// length-delimited fields (wire type 2) holding strings, nested messages and packed numbers.
class ProtoWriter {
 public:
  void varint(uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  // An int64 or uint64 field; zero is the default and is left out, as proto3 does.
  void number(uint32_t field, uint64_t v) {
    if (v == 0) return;
    varint(uint64_t{field} << 3);
    varint(v);
  }
  void bytes(uint32_t field, std::string_view b) {
    varint((uint64_t{field} << 3) | 2);
    varint(b.size());
    out_.append(b);
  }
  // A repeated number field, packed: one length-delimited run of varints.
  void packed(uint32_t field, const std::vector<uint64_t>& values) {
    if (values.empty()) return;
    ProtoWriter run;
    for (uint64_t v : values) run.varint(v);
    bytes(field, run.out_);
  }
  void message(uint32_t field, const ProtoWriter& m) { bytes(field, m.out_); }
  const std::string& text() const { return out_; }

 private:
  std::string out_;
};

// profile.proto's field numbers.
namespace pf {
constexpr uint32_t kSampleType = 1, kSample = 2, kMapping = 3, kLocation = 4, kFunction = 5, kStringTable = 6,
                   kTimeNanos = 9, kDurationNanos = 10, kPeriodType = 11, kPeriod = 12, kComment = 13;
constexpr uint32_t kValueTypeType = 1, kValueTypeUnit = 2;
constexpr uint32_t kSampleLocationId = 1, kSampleValue = 2, kSampleLabel = 3;
constexpr uint32_t kLabelKey = 1, kLabelStr = 2;
constexpr uint32_t kMappingId = 1, kMappingFilename = 5, kMappingHasFunctions = 7, kMappingHasFilenames = 8,
                   kMappingHasLineNumbers = 9;
constexpr uint32_t kLocationId = 1, kLocationMappingId = 2, kLocationLine = 4;
constexpr uint32_t kLineFunctionId = 1, kLineLine = 2;
constexpr uint32_t kFunctionId = 1, kFunctionName = 2, kFunctionFilename = 4, kFunctionStartLine = 5;
}  // namespace pf

// string_table: every string once, "" first (the format requires it at index 0).
class StringTable {
 public:
  StringTable() { index(""); }
  uint64_t index(const std::string& s) {
    auto [it, added] = index_.try_emplace(sanitize_utf8(s), strings_.size());
    if (added) strings_.push_back(it->first);
    return it->second;
  }
  const std::vector<std::string>& strings() const { return strings_; }

 private:
  std::unordered_map<std::string, uint64_t> index_;
  std::vector<std::string> strings_;
};

ProtoWriter value_type(StringTable& strings, const char* type, const char* unit) {
  ProtoWriter vt;
  vt.number(pf::kValueTypeType, strings.index(type));
  vt.number(pf::kValueTypeUnit, strings.index(unit));
  return vt;
}

}  // namespace

std::string pprof_proto(const StackAggregate& agg, const FrameTable& frames, const PprofInfo& info) {
  StringTable strings;
  ProtoWriter profile;
  profile.message(pf::kSampleType, value_type(strings, "samples", "count"));
  profile.message(pf::kSampleType, value_type(strings, "wall", "nanoseconds"));
  const double interval_ns = info.interval_seconds * 1e9;
  // One mapping for every location, saying that functions, files and lines are all there: pprof
  // then tries no symbolization of its own (the locations have no addresses to symbolize).
  ProtoWriter mapping;
  mapping.number(pf::kMappingId, 1);
  mapping.number(pf::kMappingFilename, strings.index(info.binary));
  mapping.number(pf::kMappingHasFunctions, 1);
  mapping.number(pf::kMappingHasFilenames, 1);
  mapping.number(pf::kMappingHasLineNumbers, 1);
  profile.message(pf::kMapping, mapping);

  // A function is its name, file and first line (every line of it together); a location is one
  // frame of the FrameTable (a function at one line). Ids start at 1: 0 means "none" in the format.
  // Functions and locations are written as they are first used: a message's fields may come in any
  // order.
  std::map<std::tuple<bool, std::string, std::string, int>, uint64_t> function_ids;
  std::vector<uint64_t> location_ids(frames.size(), 0);
  uint64_t next_location = 1;
  auto location_of = [&](uint32_t frame) {
    if (location_ids[frame]) return location_ids[frame];
    const FrameInfo& f = frames.at(frame);
    auto [it, added] = function_ids.try_emplace({f.native, f.function, f.file, f.first_line}, function_ids.size() + 1);
    if (added) {
      ProtoWriter fn;
      fn.number(pf::kFunctionId, it->second);
      // No system_name: pprof demangles a system name equal to the name, and a Python name such as
      // "<module>" does not survive that ("<unknown>"); the name alone is left as it is.
      fn.number(pf::kFunctionName, strings.index(f.function));
      fn.number(pf::kFunctionFilename, strings.index(f.file));
      if (f.first_line > 0) fn.number(pf::kFunctionStartLine, static_cast<uint64_t>(f.first_line));
      profile.message(pf::kFunction, fn);
    }
    const uint64_t id = next_location++;
    location_ids[frame] = id;
    ProtoWriter line;
    line.number(pf::kLineFunctionId, it->second);
    if (f.line > 0) line.number(pf::kLineLine, static_cast<uint64_t>(f.line));
    ProtoWriter loc;
    loc.number(pf::kLocationId, id);
    loc.number(pf::kLocationMappingId, 1);
    loc.message(pf::kLocationLine, line);
    profile.message(pf::kLocation, loc);
    return id;
  };

  const uint64_t thread_key = strings.index("thread");
  const auto& nodes = agg.nodes();
  for (uint32_t n = 0; n < nodes.size(); ++n) {
    if (nodes[n].self == 0 || nodes[n].parent == StackAggregate::kNone) continue;
    ProtoWriter sample;
    std::vector<uint64_t> ids;  // innermost first, as the format wants
    for (uint32_t k = n; nodes[k].parent != StackAggregate::kNone; k = nodes[k].parent)
      ids.push_back(location_of(nodes[k].frame));
    sample.packed(pf::kSampleLocationId, ids);
    const uint64_t count = nodes[n].self;
    sample.packed(pf::kSampleValue,
                  {count, static_cast<uint64_t>(std::llround(static_cast<double>(count) * interval_ns))});
    ProtoWriter label;
    label.number(pf::kLabelKey, thread_key);
    label.number(pf::kLabelStr, strings.index(thread_title(agg.threads()[nodes[n].thread])));
    sample.message(pf::kSampleLabel, label);
    profile.message(pf::kSample, sample);
  }

  profile.number(pf::kTimeNanos, static_cast<uint64_t>(info.time_nanos));
  profile.number(pf::kDurationNanos, static_cast<uint64_t>(info.duration_nanos));
  profile.message(pf::kPeriodType, value_type(strings, "wall", "nanoseconds"));
  profile.number(pf::kPeriod, static_cast<uint64_t>(std::llround(interval_ns)));
  if (!info.comment.empty()) profile.packed(pf::kComment, {strings.index(info.comment)});
  // The string table last: every index above is known by now.
  for (const std::string& s : strings.strings()) profile.bytes(pf::kStringTable, s);
  return profile.text();
}

Expected<std::string> pprof_file(const StackAggregate& agg, const FrameTable& frames, const PprofInfo& info) {
  return gzip_compress(pprof_proto(agg, frames, info));
}

}  // namespace pyxray
