# py-sample test workload: the main thread alternates between two pure-Python functions, part_a and
# part_b, which run the same loop for different numbers of iterations (part_a about SHARE of the
# time), and measures the wall-clock time spent in each itself (time.perf_counter around each call).
#
#   python sample_split.py STATUS_PATH [SHARE] [EXIT_AFTER_SECONDS] [LIFETIME_SECONDS]
#
# About every 0.05 s it appends one JSON line to STATUS_PATH.log -- wall time (time.time()), the
# totals so far, the number of rounds -- and rewrites STATUS_PATH (atomically, by rename) with the
# same and every signal received. The test compares the split py-sample measured from outside with
# these totals over the lines written while it sampled, and checks from the signals that attaching,
# sampling and detaching delivered nothing to the program.
#
# Wall-clock time, because a sampler samples in wall-clock time; a round the debugger stopped in the
# middle (attaching, detaching) is inflated by the stop, so the test only uses totals written while
# py-sample ran: the target is not stopped then. (CPU clocks would be no better: on some virtual
# machines time.thread_time() itself takes milliseconds.)
#
# A second thread, "sleeper", waits forever (an idle thread: py-sample drops its samples unless
# --idle). EXIT_AFTER_SECONDS > 0 makes it exit by itself once it has run that long (CPU time, which does not
# advance while a debugger holds it stopped), for the test of a target that exits while it is being
# sampled. Runs unchanged on Python 2.7 and 3.6+.
from __future__ import print_function

import json
import os
import signal
import sys
import threading
import time

STATUS_PATH = sys.argv[1]
SHARE = float(sys.argv[2]) if len(sys.argv) > 2 else 0.3
EXIT_AFTER = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
LIFETIME = int(sys.argv[4]) if len(sys.argv) > 4 else 240
UNIT = 20000           # iterations of the shared loop body in one round, split between the parts
WRITE_INTERVAL = 0.05  # seconds between status lines

wall_clock = getattr(time, "perf_counter", None) or time.time
cpu_clock = getattr(time, "process_time", None) or time.clock

received = []


def record_signal(signum, frame):
    received.append(signum)


for name in ("SIGINT", "SIGCONT", "SIGUSR1", "SIGUSR2", "SIGHUP", "SIGTRAP"):
    signal.signal(getattr(signal, name), record_signal)
# The safety net, should the test runner die without killing us: SIGALRM's default action ends us.
signal.alarm(LIFETIME)


def spin(n):
    x = 0
    for i in range(n):
        x += i * i
    return x


def part_a(n):
    return spin(n)


def part_b(n):
    return spin(n)


def write_status(log, ta, tb, rounds):
    line = json.dumps({"pid": os.getpid(), "t": time.time(), "a": ta, "b": tb, "rounds": rounds,
                       "signals": received, "version": list(sys.version_info[:3])})
    log.write(line + "\n")
    log.flush()
    tmp = STATUS_PATH + ".tmp"
    with open(tmp, "w") as f:
        f.write(line)
    os.rename(tmp, STATUS_PATH)


def sleeper(event):
    event.wait()


def main():
    idle = threading.Thread(target=sleeper, args=(threading.Event(),), name="sleeper")
    idle.daemon = True
    idle.start()
    n_a = int(UNIT * SHARE)
    n_b = UNIT - n_a
    ta = tb = 0.0
    rounds = 0
    started = cpu_clock()
    next_write = 0.0
    log = open(STATUS_PATH + ".log", "a")
    while True:
        t0 = wall_clock()
        part_a(n_a)
        t1 = wall_clock()
        part_b(n_b)
        t2 = wall_clock()
        ta += t1 - t0
        tb += t2 - t1
        rounds += 1
        now = time.time()
        if now >= next_write:
            write_status(log, ta, tb, rounds)
            next_write = now + WRITE_INTERVAL
            if EXIT_AFTER > 0 and cpu_clock() - started >= EXIT_AFTER:
                sys.exit(0)


main()
