"""gdb-side half of the py-bt-all benchmark (run by bench/run-bt-all).

Loaded with `gdb -nx -batch -p PID -x bench/bt_all_bench.py` while attached to
bench/workloads/deep_threads.py. Times, inside gdb's own Python,

  A: gdb.execute("py-bt-all")              -- pyxray, one command for all threads
  B: gdb.execute("thread apply all py-bt") -- CPython's Tools/gdb/libpython.py

checks that both really printed every thread and every frame, and prints a
verdict line "BENCH: PASS" / "BENCH: FAIL ..." for the wrapper to act on.
Settings come from the environment (see run-bt-all / README.md).
"""
import os
import re
import statistics
import time

import gdb

env = os.environ.get
PYXRAY_SCRIPT = env("BENCH_PYXRAY_SCRIPT", "build/pyxray-gdb.py")
CPYTHON_HELPER = env("BENCH_CPYTHON_HELPER",
                     "/root/.pyenv/versions/3.11.7/bin/python3.11-gdb.py")
THREADS = int(env("BENCH_THREADS", "100"))
DEPTH = int(env("BENCH_DEPTH", "100"))
FAST_REPS = int(env("BENCH_REPS", "20"))
SLOW_REPS = int(env("BENCH_SLOW_REPS", "3"))
MIN_SPEEDUP = float(env("BENCH_MIN_SPEEDUP", "50"))
TARGET_MS = float(env("BENCH_TARGET_MS", "20"))
SOURCE_NAME = "deep_threads.py"  # the workload; every frame line names it


def timed(command, reps):
    """Run `command` once to warm up (symbol lookups, caches), then `reps`
    timed times. Returns (median_s, min_s, output_of_last_run, first_run_s)."""
    t0 = time.perf_counter()
    out = gdb.execute(command, to_string=True)
    first = time.perf_counter() - t0
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        out = gdb.execute(command, to_string=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times), out, first


def sanity(label, out):
    """Both tools print one line per frame naming file and function (source
    lines never contain the file name), so count those lines."""
    lines = [l for l in out.splitlines() if SOURCE_NAME in l]
    frames = sum(1 for l in lines if re.search(r"\bdescend\b", l))
    leaves = sum(1 for l in lines if re.search(r"\bpark\b", l))
    want = THREADS * DEPTH
    ok = frames >= want and leaves >= THREADS
    print("  %-9s %6d descend frames (want %d), %4d threads parked (want %d)  %s"
          % (label, frames, want, leaves, THREADS, "ok" if ok else "MISSING FRAMES"))
    return ok


def ms(seconds):
    return seconds * 1000.0


def main():
    failures = []
    have_pyxray = os.path.exists(PYXRAY_SCRIPT)
    if have_pyxray:
        gdb.execute("source " + PYXRAY_SCRIPT)
    else:
        failures.append("pyxray script %s not found" % PYXRAY_SCRIPT)
    # Sourced after pyxray so CPython's own py-bt is the one being measured.
    gdb.execute("source " + CPYTHON_HELPER)

    print("workload: %d threads x %d frames; reps: py-bt-all %d, py-bt %d (+1 warm-up each)"
          % (THREADS, DEPTH, FAST_REPS, SLOW_REPS))

    fast = None
    if have_pyxray:
        fast = timed("py-bt-all", FAST_REPS)
        print("py-bt-all               median %9.2f ms   min %9.2f ms   (first run %.2f ms)"
              % (ms(fast[0]), ms(fast[1]), ms(fast[3])))
    slow = timed("thread apply all py-bt", SLOW_REPS)
    print("thread apply all py-bt  median %9.2f ms   min %9.2f ms   (first run %.2f ms)"
          % (ms(slow[0]), ms(slow[1]), ms(slow[3])))

    print("sanity:")
    if fast and not sanity("py-bt-all", fast[2]):
        failures.append("py-bt-all output is missing frames")
    if not sanity("py-bt", slow[2]):
        failures.append("py-bt output is missing frames")

    if fast:
        speedup = slow[0] / fast[0]
        print("speedup (median/median): %.1fx   bar: >= %.0fx   %s"
              % (speedup, MIN_SPEEDUP, "met" if speedup >= MIN_SPEEDUP else "MISSED"))
        print("py-bt-all median %.2f ms   aim: < %.0f ms   %s"
              % (ms(fast[0]), TARGET_MS, "met" if ms(fast[0]) < TARGET_MS else "not met"))
        if speedup < MIN_SPEEDUP:
            failures.append("speedup %.1fx < %.0fx" % (speedup, MIN_SPEEDUP))

    print("BENCH: " + ("FAIL: " + "; ".join(failures) if failures else "PASS"))


main()
