"""py-sample benchmark: how much sampling 200 busy threads at 100 Hz slows the target.

Run by bench/run-sample-threads; see bench/README.md. The target's speed is read from outside (the
workload's threads count their work in a shared memory file, summed here every 0.1 s); gdb only
writes time marks around the py-sample command, so attaching and detaching are not measured.

One run gives one ratio: unsampled and sampled windows alternate (B S B S B), so drift of the
machine's speed during the run falls on both sides alike.
"""
import json
import mmap
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from bench_pythons import interpreters

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD_DIR = os.environ.get("BUILD_DIR", "build")
PLUGIN = os.path.join(BUILD_DIR, "pyxray-gdb.py")
THREADS = int(os.environ.get("BENCH_THREADS", "200"))
RATE = float(os.environ.get("BENCH_RATE", "100"))
WINDOW = float(os.environ.get("BENCH_WINDOW", "8"))
MAX_SLOWDOWN = float(os.environ.get("BENCH_MAX_SLOWDOWN_PCT", "2"))
BLOCKING_CHECK = os.environ.get("BENCH_BLOCKING_CHECK", "1") == "1"
MODES = ("wall", "cpu")


class Counter:
    """Sums the workload's slots every 0.1 s: (time, total) rows."""

    def __init__(self, path, n):
        self._fd = os.open(path, os.O_RDONLY)
        self._slots = memoryview(mmap.mmap(self._fd, 8 * n, prot=mmap.PROT_READ)).cast("q")
        self.rows = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            self.rows.append((time.time(), sum(self._slots)))
            self._stop.wait(0.1)

    def close(self):
        self._stop.set()
        self._thread.join()
        self._slots.release()
        os.close(self._fd)

    def rates(self, start, end):
        """Chunks per second in each interval between two readings inside [start, end]."""
        rows = [r for r in self.rows if start <= r[0] <= end]
        return [(n1 - n0) / (t1 - t0) for (t0, n0), (t1, n1) in zip(rows, rows[1:]) if t1 > t0]


def start_workload(python, tmp):
    slots = os.path.join(tmp, "slots")
    proc = subprocess.Popen([python, os.path.join(HERE, "workloads", "busy_threads.py"), slots, str(THREADS)],
                            stdin=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        if len(os.listdir("/proc/%d/task" % proc.pid)) > THREADS and os.path.exists(slots):
            time.sleep(1)  # the counters are moving by then
            return proc, slots
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the workload did not start %d threads within 60 s" % THREADS)


MARK = "python open('%s','w').write(repr((__import__('time').time(), sum(__import__('os').times()[:2]))))"


def sampled_window(pid, tmp, name, extra):
    """Runs py-sample for one window from a fresh gdb; returns (start, end, summary, gdb cpu seconds)."""
    mark0, mark1 = os.path.join(tmp, name + ".0"), os.path.join(tmp, name + ".1")
    log = os.path.join(tmp, name + ".gdb")
    cmd = "py-sample %gs --rate %g %s -o %s --json" % (WINDOW, RATE, extra, os.path.join(tmp, name + ".folded"))
    argv = ["gdb", "-nx", "-batch", "-iex", "set debuginfod enabled off", "-p", str(pid), "-x", PLUGIN,
            "-ex", MARK % mark0, "-ex", cmd, "-ex", MARK % mark1]
    with open(log, "w") as out:
        subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, check=False)
    with open(log) as f:
        text = f.read()
    summary = None
    for line in text.splitlines():
        if line.startswith("{") and '"rounds"' in line:
            summary = json.loads(line)
    if summary is None or not os.path.exists(mark0) or not os.path.exists(mark1):
        raise RuntimeError("py-sample did not finish; gdb said:\n" + text[-3000:])
    with open(mark0) as f:
        t0, c0 = eval(f.read())  # our own marks: a tuple of two floats
    with open(mark1) as f:
        t1, c1 = eval(f.read())
    return t0, t1, summary, c1 - c0


def run(python, tmp, blocking_check):
    proc, slots = start_workload(python, tmp)
    counter = Counter(slots, THREADS)
    base, sampled = [], {}
    windows = []  # each unsampled window's median speed: how steady the workload is by itself
    try:
        def baseline():
            t = time.time()
            time.sleep(WINDOW)
            rates = counter.rates(t, time.time())
            base.extend(rates)
            windows.append(statistics.median(rates))

        baseline()
        for mode in MODES:
            t0, t1, summary, cpu = sampled_window(proc.pid, tmp, mode, "--mode " + mode)
            sampled[mode] = (counter.rates(t0, t1), summary, cpu)
            baseline()
        blocking = None
        if blocking_check:
            t0, t1, summary, cpu = sampled_window(proc.pid, tmp, "blocking", "--mode wall --blocking")
            blocking = (counter.rates(t0, t1), summary)
    finally:
        counter.close()
        proc.kill()
        proc.wait()
    return base, sampled, blocking, windows


def main():
    if not os.path.exists(PLUGIN):
        print("sample_threads_bench: %s missing (run scripts/build)" % PLUGIN, file=sys.stderr)
        return 2
    pythons = interpreters()
    if not pythons:
        print("sample_threads_bench: no CPython 3.11+ found (set BENCH_PYTHONS)", file=sys.stderr)
        return 2
    ok = True
    inconclusive = False
    with tempfile.TemporaryDirectory() as tmp:
        for i, python in enumerate(pythons):
            base, sampled, blocking, windows = run(python, tmp, BLOCKING_CHECK and i == 0)
            b = statistics.median(base)
            # The unsampled windows must agree with each other to within the bar, or the machine (or
            # the GIL's hand-offs among 200 threads) moves the workload's speed more than sampling
            # could be measured to: the run says so rather than pass or fail on noise.
            spread = 100.0 * (max(windows) - min(windows)) / b
            if spread > MAX_SLOWDOWN:
                inconclusive = True
                print("%-42s INCONCLUSIVE: the unsampled windows' speeds differ by %.1f%% (%s chunks/s), more than "
                      "the %g%% bar" % (python, spread, ", ".join("%.0f" % w for w in windows), MAX_SLOWDOWN))
            for mode, (rates, summary, cpu) in sampled.items():
                s = statistics.median(rates)
                slow = 100.0 * (b - s) / b
                taken = summary["samples"]["taken"]
                # The rate must be held for the bar to count. Sample times are a Poisson process:
                # the number of rounds in a window varies by its square root even at the full rate.
                expected = RATE * summary["elapsed"]
                held = summary["rounds"] >= expected - 4 * expected ** 0.5
                passed = slow <= MAX_SLOWDOWN and held and len(rates) >= 10
                ok &= passed
                print("%-42s %3d threads, --mode %-4s %5.1f Hz, %6d thread samples, gdb %.1f us/thread sample: "
                      "%.4g -> %.4g chunks/s, slowdown %+.2f%%  %s"
                      % (python, THREADS, mode, summary["rate"], taken, 1e6 * cpu / max(taken, 1), b, s, slow,
                         "ok" if passed else "FAIL"))
            if blocking:
                rates, summary = blocking
                s = statistics.median(rates) if rates else 0.0
                print("%-42s (for scale, not a bar) --blocking: %5.1f Hz, slowdown %+.1f%%"
                      % (python, summary["rate"], 100.0 * (b - s) / b))
    verdict = "INCONCLUSIVE" if inconclusive else "PASS" if ok else "FAIL"
    print("BENCH: %s (bar: <= %g%% slowdown at %g Hz on %d busy threads, the rate held)"
          % (verdict, MAX_SLOWDOWN, RATE, THREADS))
    return 3 if inconclusive else 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
