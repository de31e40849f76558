"""Benchmark workload: THREADS threads, each parked DEPTH Python frames deep.

    python3.11 deep_threads.py [THREADS=100] [DEPTH=100]

Every thread recurses through descend() DEPTH times and then blocks in park()
on a lock the main thread never releases. Once all threads are parked it
prints "READY <pid>" (flushed) and sleeps until killed.
"""
from __future__ import print_function

import os
import sys
import threading
import time

THREADS = int(sys.argv[1]) if len(sys.argv) > 1 else 100
DEPTH = int(sys.argv[2]) if len(sys.argv) > 2 else 100

gate = threading.Lock()
gate.acquire()  # held forever by the main thread
parked = threading.Semaphore(0)


def park():
    parked.release()
    gate.acquire()  # blocks forever (a C call: no extra Python frames)


def descend(n):
    if n <= 1:
        return park()
    return descend(n - 1)


def main():
    for i in range(THREADS):
        t = threading.Thread(name="deep-%d" % i, target=descend, args=(DEPTH,))
        t.daemon = True
        t.start()
    for _ in range(THREADS):
        parked.acquire()
    print("READY %d" % os.getpid())
    sys.stdout.flush()
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
