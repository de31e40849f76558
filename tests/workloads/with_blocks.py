# -*- coding: utf-8 -*-
# Integration-test workload for the context managers a frame has entered (py-bt-all --json's
# "entered"): parks threads inside nested `with` blocks of a threading.Lock, RLock and Condition and
# of Python classes, in several shapes of code, and one thread blocked entering a lock another thread
# holds (a Lock, whose __enter__ is C, and a Condition over it, whose __enter__ is Python); then
# writes the ground truth to OUT_PATH as JSON:
#
#   python with_blocks.py OUT_PATH [LIFETIME_SECONDS]
#
# For every thread: its ident, native id (3.8+), role, and its frames innermost first, each with
# its function, line and the id() of every context manager whose with block that frame is inside,
# outermost first. Each worker records those ids itself, right before it parks, for the frames it
# runs (keyed by function name: no function appears twice in one thread's stack); a frame that
# records nothing is inside no with block.
#
# Runs unchanged on 2.7 and 3.6+. Threads are started with the low-level thread module, and every
# parked thread blocks in a C call (os.read on a pipe nobody writes to, or a lock's acquire inside
# `with`), so every Python frame on every stack is this file's own but one: threading.Condition's
# __enter__, which is inside no with block in any version. The reporter thread exits right after
# writing OUT_PATH, and nothing changes afterwards.
import json
import os
import platform
import signal
import sys
import threading
import time

try:
    import _thread as thread_mod
except ImportError:  # 2.7
    import thread as thread_mod

READY_TIMEOUT = 20.0  # seconds; the test gives up at 30
POLL_INTERVAL = 0.1   # two equal snapshots this far apart mean the stacks are settled
PARK_MARKER = '# PARKED'

BLOCK_FD, KEEP_FD = os.pipe()  # nothing is ever written to KEEP_FD: reads from BLOCK_FD block
REGISTRY = {}                  # thread ident -> [role, native id]
ENTERED = {}                   # (thread ident, function name) -> [id(manager), ...], outermost first

HELD = threading.Lock()        # held by the 'holder' thread for good; 'entering' blocks on it
HELD_COND = threading.Condition(HELD)  # 'entering_cond' blocks in its __enter__
HOLDER_READY = threading.Event()


class CM(object):
    """A context manager written in Python: its __exit__ is a function, bound to the instance."""

    def __init__(self, label):
        self.label = label

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def native_id():
    get = getattr(thread_mod, 'get_native_id', None)  # 3.8+
    return get() if get is not None else None


def record(function, *managers):
    ENTERED[(thread_mod.get_ident(), function)] = [id(m) for m in managers]


def park():
    os.read(BLOCK_FD, 1)  # PARKED


def entry(role, fn, args):
    REGISTRY[thread_mod.get_ident()] = [role, native_id()]
    fn(*args)


# --- a Lock and an RLock in one function, a CM and a Condition (two items of one with) in the one
#     it calls ---

def nested_inner(cm, cond):
    with cm, cond:
        record('nested_inner', cm, cond)
        os.read(BLOCK_FD, 1)  # PARKED


def nested_outer(lock, rlock, cm, cond):
    scratch = [1, 2, 3]
    with lock:
        with rlock as held:
            record('nested_outer', lock, rlock)
            nested_inner(cm, cond)
    return scratch, held


# --- a with inside except, inside a for loop, inside try/finally, inside a with: the try blocks
#     around it are not with blocks ---

def mixed(outer, inner):
    with outer:
        try:
            for _ in [1]:
                try:
                    raise ValueError('in mixed')
                except ValueError:
                    with inner:
                        record('mixed', outer, inner)
                        os.read(BLOCK_FD, 1)  # PARKED
        finally:
            pass


# --- with blocks already left: their __exit__ entries may still lie above the stack's top ---

def stale(first, second):
    for _ in [1]:
        for _ in [2]:
            with first:
                with second:
                    pass
    record('stale')
    os.read(BLOCK_FD, 1)  # PARKED


# --- a generator's frame, running inside a with block of the function that drives it ---

def gen_frame(lock):
    with lock:
        record('gen_frame', lock)
        os.read(BLOCK_FD, 1)  # PARKED
        yield 1


def gen_driver(lock, cm):
    with cm:
        record('gen_driver', cm)
        for _ in gen_frame(lock):
            pass


# --- one thread holds HELD; another, inside a with block of its own, blocks entering HELD ---

def holder(rlock):
    with HELD:
        with rlock:
            record('holder', HELD, rlock)
            HOLDER_READY.set()
            os.read(BLOCK_FD, 1)  # PARKED


def entering(cm):
    HOLDER_READY.wait()
    with cm:
        record('entering', cm)  # not HELD: the thread has not entered it, it waits for it
        with HELD:  # PARKED
            pass


def entering_cond(cm):
    HOLDER_READY.wait()
    with cm:
        record('entering_cond', cm)  # not HELD_COND: its __enter__ waits for HELD
        with HELD_COND:  # PARKED
            pass


# --- async with (3.5+), its coroutine driven by hand ---

ASYNC_SOURCE = '''
class AsyncCM(object):
    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return False


async def async_frame(acm, lock):
    with lock:
        async with acm:
            record('async_frame', lock, acm)
            os.read(BLOCK_FD, 1)  # PARKED


def async_driver(lock):
    acm = AsyncCM()
    coro = async_frame(acm, lock)
    try:
        coro.send(None)
    except StopIteration:
        pass
'''
HAS_ASYNC = sys.version_info >= (3, 6)
if HAS_ASYNC:
    # Compiled from a string (2.7 cannot parse it), padded so that its line numbers are this file's:
    # the string's first (empty) line is the line that opens it.
    with open(__file__) as _f:
        _opening = _f.read().split('\n').index("ASYNC_SOURCE = '''")
    exec(compile('\n' * _opening + ASYNC_SOURCE, __file__, 'exec'))


def main_parked(lock):
    with lock:
        record('main_parked', lock)
        os.read(BLOCK_FD, 1)  # PARKED


def describe(ident, frame):
    frames = []
    while frame is not None:
        name = frame.f_code.co_name
        frames.append({
            'function': name,
            'file': frame.f_code.co_filename,
            'line': frame.f_lineno,
            'entered': ENTERED.get((ident, name), []),
        })
        frame = frame.f_back
    return frames


def source_line(number):
    with open(__file__) as f:
        lines = f.read().split('\n')
    return lines[number - 1] if 0 < number <= len(lines) else ''


def is_parked(frames):
    # The innermost frame of this file is at a PARKED line, and only a Condition's __enter__ is above it.
    own = [i for i, f in enumerate(frames) if f['file'] == __file__]
    return (bool(own) and PARK_MARKER in source_line(frames[own[0]]['line'])
            and all(f['function'] == '__enter__' for f in frames[:own[0]]))


def report(out_path, roles, keep):
    me = thread_mod.get_ident()
    deadline = time.time() + READY_TIMEOUT
    previous = None
    while True:
        current = sys._current_frames()
        idents = [i for i in list(REGISTRY) if i != me]
        snap = dict((i, describe(i, current[i])) for i in idents if i in current)
        ready = (sorted(r for r, _ in list(REGISTRY.values())) == sorted(roles) and len(snap) == len(idents)
                 and all(is_parked(f) for f in snap.values()))
        if ready and snap == previous:
            break
        previous = snap if ready else None
        if time.time() > deadline:
            sys.stderr.write('with_blocks.py: threads did not settle within %.0f s:\n%r\n' % (READY_TIMEOUT, snap))
            sys.stderr.flush()
            os._exit(3)
        time.sleep(POLL_INTERVAL)
    threads = [{
        'thread_id': ident,
        'native_id': REGISTRY[ident][1],
        'role': REGISTRY[ident][0],
        'frames': snap[ident],
    } for ident in idents]
    result = {
        'pid': os.getpid(),
        'python': platform.python_version(),
        'version_info': list(sys.version_info[:3]),
        'held': id(HELD),
        'held_cond': id(HELD_COND),
        'threads': threads,
    }
    tmp_path = out_path + '.tmp'
    with open(tmp_path, 'w') as f:
        json.dump(result, f, indent=1)
    os.rename(tmp_path, out_path)  # atomic: the test never sees a partial file


def main():
    out_path = sys.argv[1]
    lifetime = int(sys.argv[2]) if len(sys.argv) > 2 else 120
    signal.alarm(lifetime)  # SIGALRM's default action ends the process: no leftovers
    # Every manager stays referenced from here, so no id() is reused while the test runs.
    keep = {
        'nested': (threading.Lock(), threading.RLock(), CM('nested'), threading.Condition()),
        'mixed': (threading.RLock(), CM('mixed')),
        'stale': (threading.Lock(), CM('stale')),
        'gen': (threading.Lock(), CM('gen')),
        'holder': (threading.RLock(),),
        'entering': (CM('entering'),),
        'entering_cond': (CM('entering_cond'),),
        'async': (threading.Lock(),),
        'main': (threading.Condition(threading.Lock()),),
    }
    workers = [
        ('nested', nested_outer, keep['nested']),
        ('mixed', mixed, keep['mixed']),
        ('stale', stale, keep['stale']),
        ('gen', gen_driver, keep['gen']),
        ('holder', holder, keep['holder']),
        ('entering', entering, keep['entering']),
        ('entering_cond', entering_cond, keep['entering_cond']),
    ]
    if HAS_ASYNC:
        workers.append(('async', globals()['async_driver'], keep['async']))
    roles = ['main'] + [role for role, _, _ in workers]
    for role, fn, args in workers:
        thread_mod.start_new_thread(entry, (role, fn, args))
    thread_mod.start_new_thread(report, (out_path, roles, keep))
    entry('main', main_parked, keep['main'])


if __name__ == '__main__':
    main()
