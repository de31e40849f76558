# Fault-test workload: a process whose threads and memory change all the time.
#
#   python churn.py READY_PATH [LIFETIME_SECONDS]
#
# The main thread keeps starting short-lived threads (each recurses to a random depth and exits), so
# thread states are created and destroyed at a high rate; one long-lived thread recurses up and down
# between 0 and 400 frames, so on 3.11+ its data-stack chunks are allocated and freed (unmapped) over
# and over. READY_PATH is written once both are going. Runs unchanged on 2.7 and 3.6+.
import os
import random
import sys
import threading
import time

READY_PATH = sys.argv[1]
LIFETIME = float(sys.argv[2]) if len(sys.argv) > 2 else 240.0


def descend(n):
    if n <= 0:
        return 0
    return descend(n - 1) + 1


def short_lived():
    descend(random.randint(0, 60))


def yo_yo():
    while True:
        for depth in (50, 400, 10, 250, 0):
            descend(depth)


def main():
    sys.setrecursionlimit(5000)
    threading.Thread(target=yo_yo, name="yo-yo").start()
    started = 0
    deadline = time.time() + LIFETIME
    alive = []
    while time.time() < deadline:
        t = threading.Thread(target=short_lived, name="short-%d" % started)
        t.start()
        alive.append(t)
        started += 1
        if started == 200:
            with open(READY_PATH + ".tmp", "w") as f:
                f.write(str(os.getpid()))
            os.rename(READY_PATH + ".tmp", READY_PATH)
        if len(alive) > 20:
            alive.pop(0).join()
    os._exit(0)


main()
