#include "interp/native_merge.hpp"

#include <fmt/format.h>

#include "base/limits.hpp"

namespace pyxray {

bool is_eval_frame(const NativeFrame& f) {
  // 3.6+ name the loop _PyEval_EvalFrameDefault; 2.7 PyEval_EvalFrameEx.
  return f.function == "_PyEval_EvalFrameDefault" || f.function == "PyEval_EvalFrameEx";
}

MixedStack merge_native(const PyStack& python, const std::vector<NativeFrame>& native, bool native_truncated) {
  // Python frames split into runs, one per evaluation-loop call; each run ends at its entry frame.
  std::vector<std::vector<const PyFrame*>> runs;
  std::vector<const PyFrame*> run;
  for (const auto& f : python.frames) {
    run.push_back(&f);
    if (f.is_entry) {
      runs.push_back(std::move(run));
      run.clear();
    }
  }
  if (!run.empty()) runs.push_back(std::move(run));

  std::size_t evals = 0;
  for (const auto& f : native) evals += is_eval_frame(f);

  // Both stacks are innermost first, so when the native unwind stopped at its limit its evaluation
  // loops are the innermost runs, and the older Python frames follow without native context.
  MixedStack out;
  const bool cut_short = native_truncated && evals < runs.size();
  if (evals != runs.size() && !cut_short) {
    out.warning = fmt::format(
        "cannot merge native and Python frames soundly ({} evaluation loops on the native "
        "stack, {} on the Python stack); showing Python frames only",
        evals, runs.size());
    for (const auto& f : python.frames) out.frames.push_back({&f, {}});
    return out;
  }
  std::size_t next_run = 0;
  for (const auto& f : native) {
    if (!is_eval_frame(f)) {
      out.frames.push_back({nullptr, f});
      continue;
    }
    for (const PyFrame* p : runs[next_run]) out.frames.push_back({p, {}});
    ++next_run;
  }
  if (cut_short) {
    out.warning = fmt::format("native stack cut at {} frames ({}); older frames are Python only", native.size(),
                              raise_hint("native-frames"));
    for (; next_run < runs.size(); ++next_run)
      for (const PyFrame* p : runs[next_run]) out.frames.push_back({p, {}});
  }
  return out;
}

}  // namespace pyxray
