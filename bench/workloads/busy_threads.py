# py-sample benchmark workload: N threads, each running a shallow pure-Python loop flat out. Each
# thread counts its finished chunks in its own 8-byte slot of a shared memory file, which the
# benchmark reads from outside: the target's speed is measured without a logging thread inside it,
# which would have to compete with N threads for the GIL and make the 0.1 s rates lumpy.
#
#   python busy_threads.py SLOTS_FILE N [LIFETIME_SECONDS]
#
# The benchmark knows it is ready from outside (N+1 tasks in /proc/PID/task, counters moving): the GIL
# is not fair, and with 200 threads the main thread may wait seconds for a turn to say so itself.
import mmap
import os
import sys
import threading
import time

PATH = sys.argv[1]
N = int(sys.argv[2])
LIFETIME = float(sys.argv[3]) if len(sys.argv) > 3 else 300.0
CHUNK = 5000  # about 0.1 ms of work between counter updates

with open(PATH, "wb") as f:
    f.write(b"\0" * (8 * N))
fd = os.open(PATH, os.O_RDWR)
slots = memoryview(mmap.mmap(fd, 8 * N)).cast("q")
stop = time.time() + LIFETIME


go = threading.Event()


def work(i):
    go.wait()  # start together: threads started one by one would each slow the next start
    # Aligned 8-byte stores: the reader sees each counter whole; only this thread writes slot i.
    while time.time() < stop:
        x = 0
        for _ in range(CHUNK):
            x += 1
        slots[i] += 1


threads = [threading.Thread(target=work, args=(i,), name="busy-%d" % i, daemon=True) for i in range(N)]
for t in threads:
    t.start()
go.set()
for t in threads:
    t.join()
