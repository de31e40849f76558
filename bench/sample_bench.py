"""py-sample benchmark: highest sustained sampling rate and the target's slowdown at 1 kHz.

Run by bench/run-sample; see bench/README.md. Drives gdb from outside (one gdb per measurement) and
reads only what gdb prints and what the workload logs itself.
"""
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

from bench_pythons import interpreters

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD_DIR = os.environ.get("BUILD_DIR", "build")
PLUGIN = os.path.join(BUILD_DIR, "pyxray-gdb.py")
MIN_RATE = float(os.environ.get("BENCH_MIN_RATE", "100000"))
MAX_ERRORS = float(os.environ.get("BENCH_MAX_ERROR_PCT", "1"))
MAX_SLOWDOWN = float(os.environ.get("BENCH_MAX_SLOWDOWN_PCT", "2"))
RATE_SECONDS = float(os.environ.get("BENCH_RATE_SECONDS", "3"))
SLOW_SECONDS = float(os.environ.get("BENCH_SLOWDOWN_SECONDS", "8"))
SUMMARY = re.compile(r"^py-sample: (\d+) thread samples? in \d+ rounds? over ([\d.]+) s \((\d+) Hz, (\d+) Hz requested[^)]*\): "
                     r"(\d+) recorded, (\d+) errors")


def gdb(pid, commands, log):
    argv = ["gdb", "-nx", "-batch", "-iex", "set debuginfod enabled off", "-p", str(pid), "-x", PLUGIN]
    for c in commands:
        argv += ["-ex", c]
    with open(log, "w") as out:
        subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, check=False)
    with open(log) as f:
        return f.read()


def start(python, tmp, log):
    proc = subprocess.Popen([python, os.path.join(HERE, "workloads", "throughput.py"), log],
                            stdin=subprocess.DEVNULL, cwd=tmp)
    deadline = time.time() + 20
    while time.time() < deadline and (not os.path.exists(log) or os.path.getsize(log) == 0):
        time.sleep(0.05)
    return proc


def max_rate(python, tmp):
    log = os.path.join(tmp, "rate.log")
    proc = start(python, tmp, log)
    try:
        out = gdb(proc.pid, ["py-sample %gs --rate 10000k -o %s/rate.folded" % (RATE_SECONDS, tmp)],
                  os.path.join(tmp, "rate.gdb"))
    finally:
        proc.kill()
        proc.wait()
    for line in out.splitlines():
        m = SUMMARY.match(line)
        if m:
            taken, errors = int(m.group(1)), int(m.group(6))
            return int(m.group(3)), 100.0 * errors / max(taken, 1)
    raise RuntimeError("no py-sample summary in gdb's output:\n" + out)


def speeds(log, start, end):
    """Iterations per second in each 0.1 s interval of the log that lies inside [start, end]."""
    rows = []
    with open(log) as f:
        for line in f:
            t, n = line.split()
            rows.append((float(t), int(n)))
    out = []
    for (t0, n0), (t1, n1) in zip(rows, rows[1:]):
        # Intervals longer than 0.5 s held a debugger stop (attach, detach): not the loop's speed.
        if start <= t0 and t1 <= end and 0 < t1 - t0 < 0.5:
            out.append((n1 - n0) / (t1 - t0))
    return out


def slowdown(python, tmp):
    log = os.path.join(tmp, "slow.log")
    proc = start(python, tmp, log)
    try:
        time.sleep(SLOW_SECONDS)  # baseline
        before_end = time.time()
        mark = os.path.join(tmp, "mark")
        gdb(proc.pid, ["python open('%s.0','w').write(repr(__import__('time').time()))" % mark,
                       "py-sample %gs --rate 1000 -o %s/slow.folded" % (SLOW_SECONDS, tmp),
                       "python open('%s.1','w').write(repr(__import__('time').time()))" % mark],
            os.path.join(tmp, "slow.gdb"))
        after_start = time.time()
        time.sleep(SLOW_SECONDS)
        after_end = time.time()
    finally:
        proc.kill()
        proc.wait()
    with open(mark + ".0") as f:
        s0 = float(f.read())
    with open(mark + ".1") as f:
        s1 = float(f.read())
    base = speeds(log, 0, before_end) + speeds(log, after_start, after_end)
    during = speeds(log, s0, s1)
    if len(base) < 10 or len(during) < 10:
        raise RuntimeError("too few measurements (%d baseline, %d sampled)" % (len(base), len(during)))
    b, d = statistics.median(base), statistics.median(during)
    return b, d, 100.0 * (b - d) / b


def main():
    if not os.path.exists(PLUGIN):
        print("sample_bench: %s missing (run scripts/build)" % PLUGIN, file=sys.stderr)
        return 2
    pythons = interpreters()
    if not pythons:
        print("sample_bench: no CPython 3.11+ found (set BENCH_PYTHONS)", file=sys.stderr)
        return 2
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for python in pythons:
            rate, errors = max_rate(python, tmp)
            base, during, slow = slowdown(python, tmp)
            passed = rate >= MIN_RATE and errors < MAX_ERRORS and slow <= MAX_SLOWDOWN
            ok &= passed
            print("%-45s highest rate %7d Hz, %.2f%% errors | 1 kHz: %.3g -> %.3g it/s, slowdown %+.2f%%  %s"
                  % (python, rate, errors, base, during, slow, "ok" if passed else "FAIL"))
    print("BENCH: %s (bars: >= %d Hz with < %g%% errors; <= %g%% slowdown at 1 kHz)"
          % ("PASS" if ok else "FAIL", MIN_RATE, MAX_ERRORS, MAX_SLOWDOWN))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
