# py-sample test workload for torn frame chains: two threads (the main thread and "worker") run the
# same loop, whose leaves are a recursion (fib), a plain loop (leaf_a) and a generator expression
# consumed by a C function (leaf_b: sum() calls the generator's __next__ from C).
#
#   python genexpr.py STATUS_PATH [LIFETIME_SECONDS]
#
# On 3.11+ a generator's frame lives inside the generator object and is linked into the thread's
# frame chain only while it runs: a sampler reading the chain while the generator yields, finishes or
# is entered again may see the generator frame cut off from its callers (a lone `<genexpr>`) or
# linked below frames that are not running it. Every true stack of the main thread starts at
# <module>, every one of the worker's at threading's bootstrap function, which is what the test checks.
#
# STATUS_PATH is written (atomically, by rename) once both threads run, with the pid and version.
# Runs unchanged on Python 2.7 and 3.6+.
from __future__ import print_function

import json
import os
import signal
import sys
import threading

STATUS_PATH = sys.argv[1]
LIFETIME = int(sys.argv[2]) if len(sys.argv) > 2 else 240

# The safety net, should the test runner die without killing us: SIGALRM's default action ends us.
signal.alarm(LIFETIME)


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def leaf_a(n):
    x = 0
    for i in range(n):
        x += i * i
    return x


def leaf_b(n):
    # Thousands of generator resumptions a second, each from C: the generator frame is linked into
    # the chain and unlinked again at every item.
    return sum(str(i).count("7") for i in range(n))


def work():
    fib(12)
    leaf_a(2000)
    leaf_b(2000)


def worker(started):
    started.set()
    while True:
        work()


def main():
    started = threading.Event()
    t = threading.Thread(target=worker, args=(started,), name="worker")
    t.daemon = True
    t.start()
    started.wait()
    tmp = STATUS_PATH + ".tmp"
    with open(tmp, "w") as f:
        f.write(json.dumps({"pid": os.getpid(), "version": list(sys.version_info[:3])}))
    os.rename(tmp, STATUS_PATH)
    while True:
        work()


main()
