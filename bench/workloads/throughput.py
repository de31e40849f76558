# py-sample benchmark workload: one thread runs a shallow pure-Python loop flat out and measures its
# own speed. Every 0.1 s it appends "wall_time iterations" to LOG, so the benchmark can compare the
# loop's speed while it is being sampled with its speed before and after.
#
#   python throughput.py LOG [LIFETIME_SECONDS]
import sys
import time

LOG = sys.argv[1]
LIFETIME = float(sys.argv[2]) if len(sys.argv) > 2 else 120.0
CHUNK = 20000  # iterations between clock reads


def spin():
    total = 0
    start = time.time()
    next_write = start + 0.1
    with open(LOG, "a") as log:
        while True:
            x = 0
            for _ in range(CHUNK):
                x += 1
            total += CHUNK
            now = time.time()
            if now >= next_write:
                log.write("%.6f %d\n" % (now, total))
                log.flush()
                next_write = now + 0.1
                if now - start > LIFETIME:
                    return


spin()
