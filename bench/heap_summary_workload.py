# Benchmark workload for py-heap-summary: builds a heap of about HEAP_BENCH_OBJECTS objects (default
# 6 million: instances, floats, strs, ints, tuples, small dicts and lists), then walks its own heap
# the way an in-process tool does (gc.get_objects, then everything reachable through
# gc.get_referents, each object once, sized with sys.getsizeof), times that walk, prints
#
#   INPROC <objects> <bytes> <seconds>
#   READY <pid>
#
# and blocks in a C call until killed.
from __future__ import print_function

import gc
import os
import sys
import threading
import time

TARGET = int(os.environ.get('HEAP_BENCH_OBJECTS', '6000000'))


class Record(object):
    def __init__(self, i):
        self.key = i
        self.name = 'r%d' % i
        self.score = i * 0.5


def build(n):
    # Each unit is about 12 objects: a Record, its int, str and float, a tuple of two fresh ints, a
    # str, a float, a dict with its value, a list with its int.
    units = n // 12
    records = [Record(i) for i in range(units)]
    pairs = [(i + 1000000, -i - 1000000) for i in range(units)]
    names = ['name-%d' % i for i in range(units)]
    floats = [i + 0.25 for i in range(units)]
    dicts = [{'v': i + 2000000} for i in range(units)]
    lists = [[i + 3000000] for i in range(units)]
    return [records, pairs, names, floats, dicts, lists]


def walk():
    start = time.perf_counter() if hasattr(time, 'perf_counter') else time.time()
    roots = gc.get_objects()
    stack = list(roots)
    seen = set()
    skip = set([id(roots), id(stack), id(seen)])
    count = 0
    total = 0
    while stack:
        o = stack.pop()
        i = id(o)
        if i in seen or i in skip:
            continue
        seen.add(i)
        count += 1
        total += sys.getsizeof(o)
        stack.extend(gc.get_referents(o))
    end = time.perf_counter() if hasattr(time, 'perf_counter') else time.time()
    return count, total, end - start


def main():
    data = build(TARGET)  # noqa: F841 -- kept alive until the process is killed
    gc.collect()
    count, total, seconds = walk()
    gc.collect()
    print('INPROC %d %d %.3f' % (count, total, seconds))
    print('READY %d' % os.getpid())
    sys.stdout.flush()
    lock = threading.Lock()
    lock.acquire()
    lock.acquire()


if __name__ == '__main__':
    main()
