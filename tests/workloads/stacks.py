# Integration-test workload: parks threads in distinct, stable, blocked Python stacks and then writes
# the ground truth (every thread's frames, as CPython itself sees them) to OUT_PATH as JSON.
#
#   python stacks.py OUT_PATH [LIFETIME_SECONDS]
#
# Must run unchanged on Python 2.7 and 3.6+: no f-strings, no nonlocal, and the `async def` code is
# compiled from a string only where the syntax exists.
#
# Once OUT_PATH exists the process never changes again, except for the "spinner" thread, which runs
# a pure-Python busy loop forever and therefore holds the GIL (the only thread that can).
# The reporter thread exits right after writing OUT_PATH, so the threads left are exactly the ones
# in the report. Nothing ever wakes the blocked threads: the test kills the process group, and
# SIGALRM (default action: terminate) is a safety net in case the test runner itself dies.
from __future__ import print_function

import functools
import json
import os
import platform
import signal
import sys
import threading
import time

RECURSION_DEPTH = 1200
WORKERS = 3
READY_TIMEOUT = 20.0   # seconds; the test gives up at 30
POLL_INTERVAL = 0.1    # two equal snapshots this far apart mean the stacks are settled

FOREVER = threading.Event()  # never set: every blocked thread ends up waiting on it
REGISTRY_LOCK = threading.Lock()
NATIVE_IDS = {}              # thread ident -> native id (kernel tid), recorded by the thread itself


def native_id():
    get = getattr(threading, "get_native_id", None)  # 3.8+
    return get() if get is not None else None


def register():
    with REGISTRY_LOCK:
        NATIVE_IDS[threading.current_thread().ident] = native_id()


def block_forever():
    FOREVER.wait()


def entry(fn, *args):
    # Every started thread goes through here, so that its native id is recorded from inside it.
    register()
    fn(*args)


# --- named workers: distinct depths, so that swapping two workers' stacks would be noticed ---

def worker_step(levels):
    if levels > 0:
        return worker_step(levels - 1)
    block_forever()


def worker_main(index):
    worker_step(index)


# --- a generator frame on the stack, suspended-then-resumed, whose body blocks ---

def gen_body():
    yield 1
    block_forever()
    yield 2


def run_generator():
    gen = gen_body()
    next(gen)
    next(gen)


# --- a coroutine driven by send(None) whose body blocks (3.5+ only) ---
# Compiled from this very text with its real line numbers, so the frames point at these lines.
_CORO_SOURCE_LINE = sys._getframe().f_lineno + 1
CORO_SOURCE = """
async def coro_inner():
    block_forever()


async def coro_outer():
    await coro_inner()
"""
HAVE_COROUTINES = sys.version_info >= (3, 5)
if HAVE_COROUTINES:
    exec(compile("\n" * (_CORO_SOURCE_LINE - 1) + CORO_SOURCE, __file__, "exec"))


def run_coroutine():
    coro = coro_outer()  # noqa: F821 (defined by the exec above)
    coro.send(None)


# --- Python callbacks called from C code ---

def run_sorted_key():
    return sorted([3, 1, 2], key=lambda x: block_forever())


def map_callback(x):
    block_forever()


def run_map():
    return list(map(map_callback, [1, 2]))


def run_reduce():
    return functools.reduce(lambda acc, x: block_forever(), [1, 2, 3])


# --- a closure, and methods (qualname != name on 3.11+) ---

def make_closure(event):
    def closure_body():
        return event.wait()  # `event` is a free variable of closure_body
    return closure_body


def run_closure():
    make_closure(FOREVER)()


class Waiter(object):
    class Nested(object):
        def nested_method(self):
            block_forever()

    def blocked_method(self):
        Waiter.Nested().nested_method()


# --- deep recursion ---

def recurse(levels):
    if levels > 0:
        return recurse(levels - 1)
    block_forever()


# --- the spinner: pure Python, never blocks, keeps the GIL ---

REPORTER = []  # the reporter thread's ident, once the ground truth is written


def spin():
    count = 0
    if sys.version_info[0] == 2:
        # Python 2 drops and retakes the GIL every N bytecodes even without contention. Once the
        # reporter has gone (ending, it may wait for the GIL), make that practically never happen,
        # so that the spinner is seen holding the GIL; set any earlier, the reporter could wait for
        # the GIL for minutes while ending. (3.x only drops it on request.) No call in the loop: the
        # spinner's innermost frame is always spin().
        active = threading._active
        while not REPORTER or REPORTER[0] in active:
            count += 1
        sys.setcheckinterval(1 << 30)
    while True:
        count += 1


# --- ground truth ---

def describe(frame):
    """Frames innermost first, as CPython's own frame objects report them."""
    frames = []
    while frame is not None:
        code = frame.f_code
        frames.append({
            "function": code.co_name,
            "qualname": getattr(code, "co_qualname", None),  # 3.11+
            "file": code.co_filename,
            "line": frame.f_lineno,
        })
        frame = frame.f_back
    return frames


PARKING_CALLERS = ("block_forever", "closure_body")  # the only callers of FOREVER.wait()


def is_parked(frames):
    # Every blocked thread waits in threading's Condition.wait, called by Event.wait, called by one
    # of the PARKING_CALLERS. Checking the caller matters: a thread waiting in Event.wait elsewhere
    # is not parked yet (e.g. the main thread in reporter.start(), waiting for the reporter to
    # signal that it started, can look settled for a whole poll interval on a loaded machine).
    return (len(frames) >= 3 and frames[0]["function"] == "wait"
            and os.path.basename(frames[0]["file"]).startswith("threading")
            and frames[1]["function"] == "wait"
            and frames[2]["function"] in PARKING_CALLERS)


def snapshot(idents):
    current = sys._current_frames()
    return dict((ident, describe(current[ident])) for ident in idents if ident in current)


def report(out_path, threads, spinner_ident):
    me = threading.current_thread().ident
    reported = [t for t in threads if t.ident != me]
    idents = [t.ident for t in reported]
    settled = [i for i in idents if i != spinner_ident]
    deadline = time.time() + READY_TIMEOUT
    previous = None
    while True:
        with REGISTRY_LOCK:
            registered = all(i in NATIVE_IDS for i in idents)
        snap = snapshot(idents)
        current = dict((i, snap.get(i)) for i in settled)
        ready = (registered and len(snap) == len(idents)
                 and all(is_parked(f) for f in current.values()))
        if ready and current == previous:
            break
        previous = current if ready else None
        if time.time() > deadline:
            sys.stderr.write("stacks.py: threads did not settle within %.0f s:\n%r\n"
                             % (READY_TIMEOUT, current))
            sys.stderr.flush()
            os._exit(3)
        time.sleep(POLL_INTERVAL)

    result = {
        "pid": os.getpid(),
        "python": platform.python_version(),
        "version_info": list(sys.version_info[:3]),
        "threads": [{
            "thread_id": t.ident,
            "native_id": NATIVE_IDS[t.ident],
            "name": t.name,
            "spinner": t.ident == spinner_ident,
            "frames": snap[t.ident],
        } for t in reported],
    }
    tmp_path = out_path + ".tmp"
    with open(tmp_path, "w") as f:
        json.dump(result, f, indent=1)
    os.rename(tmp_path, out_path)  # atomic: the test never sees a partial file
    REPORTER.append(me)


def start(threads, name, fn, *args):
    thread = threading.Thread(target=entry, args=(fn,) + args, name=name)
    thread.daemon = True
    thread.start()
    threads.append(thread)
    return thread


def main_thread_blocks():
    block_forever()


def main():
    if len(sys.argv) < 2:
        sys.stderr.write("usage: stacks.py OUT_PATH [LIFETIME_SECONDS]\n")
        sys.exit(2)
    out_path = sys.argv[1]
    lifetime = int(sys.argv[2]) if len(sys.argv) > 2 else 120
    signal.alarm(lifetime)  # SIGALRM's default action ends the process: no leftovers
    sys.setrecursionlimit(RECURSION_DEPTH + 1000)
    register()

    threads = [threading.current_thread()]
    for index in range(WORKERS):
        start(threads, "worker-%d" % index, worker_main, index)
    start(threads, "gen-thread", run_generator)
    if HAVE_COROUTINES:
        start(threads, "coro-thread", run_coroutine)
    start(threads, "sorted-key-thread", run_sorted_key)
    start(threads, "map-thread", run_map)
    start(threads, "reduce-thread", run_reduce)
    start(threads, "closure-thread", run_closure)
    start(threads, "method-thread", Waiter().blocked_method)
    threading.stack_size(64 * 1024 * 1024)  # room for the recursion on any build
    start(threads, "recursion-thread", recurse, RECURSION_DEPTH)
    threading.stack_size(0)
    spinner = start(threads, "spinner", spin)

    reporter = threading.Thread(target=report, args=(out_path, threads, spinner.ident),
                                name="pyxray-reporter")
    reporter.daemon = True
    reporter.start()
    main_thread_blocks()


if __name__ == "__main__":
    main()
