# Integration-test workload for py-tasks' greenlets: parks gevent greenlets and plain greenlets in
# known places, then writes the ground truth to OUT_PATH as JSON:
#
#   python greenlets.py [--plain] [--unknown-release] OUT_PATH [LIFETIME_SECONDS]
#
# --plain leaves gevent out (sid's python3-gevent is built for 3.14 only, its greenlet for 3.15 too):
# only the plain greenlets and the second thread's. --unknown-release sets greenlet.__version__ to a
# release no layout row names, before anything else: pyxray must list the greenlets without
# decoding them, and say why.
#
# Main thread (gevent's hub runs here):
#   sleeper        gevent.sleep() inside outer() -> middle()
#   event-waiter   waits on a gevent Event nobody sets
#   queue-waiter   waits in get() on an empty gevent Queue
#   joiner         joins sleeper
#   plain-a        a greenlet.greenlet switched out inside plain_outer() -> plain_inner()
#   plain-via-c    a greenlet.greenlet switched out inside a function that map() called from C: on
#                  3.12+ its chain passes an entry frame on the C stack, which greenlet copies to the
#                  heap when another greenlet runs
#   plain-new      a greenlet.greenlet never started
#   plain-dead     a greenlet.greenlet that ran to its end
#   the hub, suspended in its loop, and the main greenlet, running (the thread sleeps in park_main())
# Thread gone-thread: switches into a greenlet, leaves it suspended and exits: both greenlets are dead
#   (greenlet says so) and belong to no thread.
# Thread green-thread: its own main greenlet (running: it waits on a threading.Event) and
#   worker-a       a greenlet.greenlet switched out inside worker_outer() -> worker_inner()
#
# The truth lists both threads and every greenlet gc.get_objects() finds: id(), type (module.qualname),
# gevent's name where one was set, state, thread (native id, None when not started or dead), whether
# it runs now, its innermost frame (function and line: gr_frame for a suspended one, the thread's own
# frame for a running one) and the functions of ours that its stack must hold, innermost first.
import gc
import json
import os
import platform
import signal
import sys
import threading
import time

import greenlet

OPTIONS = [a for a in sys.argv[1:] if a.startswith('--')]
PLAIN = '--plain' in OPTIONS
ARGS = [a for a in sys.argv[1:] if not a.startswith('--')]
if '--unknown-release' in OPTIONS:
    greenlet.__version__ = '0.0.0-not-a-release'
OUT_PATH = ARGS[0]
LIFETIME = int(ARGS[1]) if len(ARGS) > 1 else 240
if not PLAIN:
    import gevent
    import gevent.event
    import gevent.queue
signal.alarm(LIFETIME)  # the safety net, should the test runner die without killing us

EXPECT = {}  # id(greenlet) -> our functions its stack must hold, innermost first
THREAD_OF = {}  # id(greenlet) -> native id of the thread it belongs to


def middle():
    gevent.sleep(1000)


def outer():
    middle()


def wait_event(ev):
    ev.wait()


def wait_queue(q):
    q.get()


def join_other(other):
    other.join()


def plain_inner():
    greenlet.getcurrent().parent.switch('parked')


def plain_outer():
    plain_inner()


def via_c_inner(_):
    greenlet.getcurrent().parent.switch('parked')


def via_c_outer():
    list(map(via_c_inner, [0]))


def scrub_stack(depth=40):
    # Calls through C (map) nest evaluation loops on the C stack: this overwrites the part of it that
    # plain-via-c's frames used, so only greenlet's heap copy still holds them.
    return sum(map(scrub_stack, [depth - 1])) if depth else 0


def worker_inner():
    greenlet.getcurrent().parent.switch('parked')


def worker_outer():
    worker_inner()


GONE = []


def gone_thread():
    g = greenlet.greenlet(plain_outer)
    g.switch()
    GONE.extend([g, greenlet.getcurrent()])


WORKER_READY = threading.Event()
WORKER_STOP = threading.Event()
WORKER = {}


def green_thread():
    nid = threading.get_native_id()
    main = greenlet.getcurrent()
    w = greenlet.greenlet(worker_outer)
    w.switch()
    for g in (main, w):
        THREAD_OF[id(g)] = nid
    EXPECT[id(w)] = ['worker_inner', 'worker_outer']
    WORKER.update(main=main, worker=w, ident=threading.get_ident(), native_id=nid)
    WORKER_READY.set()
    WORKER_STOP.wait()


def park_main():
    while True:
        time.sleep(1000)  # PARK-MAIN


def innermost(frame):
    return {'function': frame.f_code.co_name, 'line': frame.f_lineno} if frame is not None else None


def type_name(g):
    t = type(g)
    return t.__module__ + '.' + t.__qualname__


KEEP = []


def spawn_gevent():
    ev = gevent.event.Event()
    q = gevent.queue.Queue()
    sleeper = gevent.spawn(outer)
    sleeper.name = 'sleeper'
    waiter = gevent.spawn(wait_event, ev)
    waiter.name = 'event-waiter'
    qwaiter = gevent.spawn(wait_queue, q)
    qwaiter.name = 'queue-waiter'
    joiner = gevent.spawn(join_other, sleeper)
    joiner.name = 'joiner'
    gevent.sleep(0.2)  # the hub runs each until it blocks
    EXPECT[id(sleeper)] = ['middle', 'outer']
    EXPECT[id(waiter)] = ['wait_event']
    EXPECT[id(qwaiter)] = ['wait_queue']
    EXPECT[id(joiner)] = ['join_other']
    KEEP.extend([ev, q, sleeper, waiter, qwaiter, joiner])


def main():
    main_nid = threading.get_native_id()
    if not PLAIN:
        spawn_gevent()
    plain_a = greenlet.greenlet(plain_outer)
    plain_a.switch()
    plain_via_c = greenlet.greenlet(via_c_outer)
    plain_via_c.switch()
    scrub_stack()
    plain_new = greenlet.greenlet(plain_outer)
    plain_dead = greenlet.greenlet(lambda: None)
    plain_dead.switch()
    EXPECT[id(plain_a)] = ['plain_inner', 'plain_outer']
    EXPECT[id(plain_via_c)] = ['via_c_inner', 'via_c_outer']
    EXPECT[id(greenlet.getcurrent())] = ['park_main', 'main']

    gone = threading.Thread(target=gone_thread, name='gone-thread')
    gone.start()
    gone.join()

    t = threading.Thread(target=green_thread, name='green-thread', daemon=True)
    t.start()
    WORKER_READY.wait()
    time.sleep(0.2)  # green-thread is inside WORKER_STOP.wait() by now

    with open(__file__) as f:
        park_line = next(i for i, text in enumerate(f, 1) if text.rstrip().endswith('# PARK-MAIN') and 'time.sleep' in text)
    frames = sys._current_frames()
    running = {id(greenlet.getcurrent()): {'function': 'park_main', 'line': park_line},
               id(WORKER['main']): innermost(frames[WORKER['ident']])}
    greenlets = []
    for g in gc.get_objects():
        if not isinstance(g, greenlet.greenlet):
            continue
        if g.dead:
            state = 'dead'
        elif id(g) in running:
            state = 'running'
        elif not g:
            state = 'not_started'
        else:
            state = 'suspended'
        alive = state in ('running', 'suspended')
        d = getattr(g, '__dict__', {})
        greenlets.append({
            'address': id(g),
            'type': type_name(g),
            'name': d.get('name', '') if isinstance(d.get('name', ''), str) else '',
            'state': state,
            'thread': THREAD_OF.get(id(g), main_nid) if alive else None,
            'running': state == 'running',
            'innermost': running[id(g)] if state == 'running' else innermost(g.gr_frame) if alive else None,
            'functions': EXPECT.get(id(g), []),
        })
    truth = {
        'pid': os.getpid(),
        'version': platform.python_version(),
        'greenlet_version': greenlet.__version__,
        'threads': [{'name': 'MainThread', 'native_id': main_nid},
                    {'name': 'green-thread', 'native_id': WORKER['native_id']}],
        'greenlets': greenlets,
    }
    tmp = OUT_PATH + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(truth, f, indent=1)
    os.rename(tmp, OUT_PATH)
    park_main()


main()
