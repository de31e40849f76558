# gdb-side half of bench/heap_summary: sources pyxray, times py-heap-summary inside gdb's Python and
# reports the debugger's memory. Reads BENCH_PYXRAY_SCRIPT, BENCH_REPS, BENCH_INPROC_SECONDS,
# BENCH_INPROC_OBJECTS and BENCH_MIN_SPEEDUP from the environment.
import json
import os
import statistics
import time

import gdb


def vm(field):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1]) * 1024
    return 0


def main():
    gdb.execute('source ' + os.environ['BENCH_PYXRAY_SCRIPT'])
    reps = int(os.environ.get('BENCH_REPS', '3'))
    inproc = float(os.environ['BENCH_INPROC_SECONDS'])
    inproc_objects = int(os.environ['BENCH_INPROC_OBJECTS'])
    min_speedup = float(os.environ.get('BENCH_MIN_SPEEDUP', '3'))
    rss_before = vm('VmRSS')
    times = []
    summary = None
    for i in range(reps + 1):
        t0 = time.perf_counter()
        out = gdb.execute('py-heap-summary --json', to_string=True)
        dt = time.perf_counter() - t0
        summary = json.loads([l for l in out.splitlines() if l.startswith('{"objects"')][0])
        if i == 0:
            first = dt
        else:
            times.append(dt)
    text = gdb.execute('py-heap-summary --limit 12', to_string=True)
    # A snapshot with every object and its generation (issue 18's bar: under 3 s, under 100 MB).
    snap = os.path.join(os.environ.get('BENCH_TMP', '/tmp'), 'bench.heap')
    save_times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        gdb.execute('py-heap-summary --limit 1 --save %s --objects' % snap, to_string=True)
        save_times.append(time.perf_counter() - t0)
    snap_bytes = os.path.getsize(snap)
    os.unlink(snap)
    save_med = statistics.median(save_times)
    peak = vm('VmHWM')
    med = statistics.median(times)
    speedup = inproc / med
    print('workload: %d objects counted in-process in %.2f s (gc.get_objects + gc.get_referents + sys.getsizeof)'
          % (inproc_objects, inproc))
    print(text.rstrip())
    print('py-heap-summary: %d objects, %d bytes; first run %.2f s, then median %.2f s, min %.2f s over %d runs'
          % (summary['objects'], summary['bytes'], first, med, min(times), len(times)))
    print('  walk: %s' % ', '.join('%s=%s' % (k, summary[k]) for k in
                                   ('allocator', 'arenas', 'in_arenas', 'gc_outside', 'by_reference', 'partial')))
    print('gdb memory: RSS %.0f MiB before, peak %.0f MiB (VmHWM)' % (rss_before / 2**20, peak / 2**20))
    print('speedup over the in-process walk: %.1fx (bar: %.1fx)' % (speedup, min_speedup))
    print('py-heap-summary --save F --objects: median %.2f s over %d runs (bar: 3 s), F %.1f MB (bar: 100 MB)'
          % (save_med, len(save_times), snap_bytes / 1e6))
    ok = speedup >= min_speedup and abs(summary['objects'] - inproc_objects) <= 0.05 * inproc_objects
    ok = ok and save_med < 3.0 and snap_bytes < 100e6
    print('BENCH: %s' % ('PASS' if ok else 'FAIL'))


try:
    main()
except Exception as e:  # the runner looks for BENCH:
    print('BENCH: ERROR %s' % e)
