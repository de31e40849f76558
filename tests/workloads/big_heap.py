# Integration-test workload for interrupting long commands: a heap of COUNT one-element tuples, each
# holding its own int, in one list (2 * COUNT objects besides the interpreter's own), and a chain of
# CHAIN nested lists whose innermost one holds a marker object, so that py-referrers of the marker
# needs CHAIN heap walks. Writes the ground truth to OUT_PATH as JSON and sleeps until killed:
#
#   python big_heap.py COUNT CHAIN OUT_PATH [LIFETIME_SECONDS]
#
# Run it under PYTHONMALLOC=malloc to make each walk slow (every object is then found by reference
# outside pymalloc's arenas), so that a signal sent early is certain to arrive mid-walk.
import json
import os
import signal
import sys
import time


class Marker(object):
    pass


def main():
    count, chain = int(sys.argv[1]), int(sys.argv[2])
    out_path = sys.argv[3]
    lifetime = int(sys.argv[4]) if len(sys.argv) > 4 else 240
    signal.alarm(lifetime)  # never outlive a crashed test run

    global BIG, CHAIN_HEAD
    BIG = [(i + 1000,) for i in range(count)]
    marker = Marker()
    inner = [marker]
    for _ in range(chain - 1):
        inner = [inner]
    CHAIN_HEAD = inner
    truth = {
        "pid": os.getpid(),
        "threads": [{"ident": 0}],
        "big_list": id(BIG),
        "count": count,
        "marker": id(marker),
        "chain": chain,
    }
    del marker, inner
    tmp = out_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(truth, f)
    os.rename(tmp, out_path)
    while True:
        time.sleep(3600)


main()
