# Integration-test workload for py-locks: stages every kind of wait the command names, then writes
# the ground truth to OUT_PATH as JSON:
#
#   python locks.py [DAMAGE] OUT_PATH [LIFETIME_SECONDS]
#
#   lock-a, lock-b      a lock-order deadlock through `with` blocks: each holds one Lock and waits
#                       for the other's
#   rlock-holder        holds an RLock twice (nested `with`), then waits on an Event nobody sets
#   rlock-waiter        waits for that RLock in `with rlock:`
#   cond-waiter         waits on a Condition nobody notifies (and nobody holds while it waits)
#   sem-waiter          waits in acquire() on a Semaphore whose count is 0
#   queue-waiter        waits in get() on an empty queue.Queue
#   barrier-waiter      (3.x) waits at a Barrier for a second party that never comes
#   plain-waiter        waits in acquire() for a Lock the main thread took with acquire(), outside
#                       any `with` block: its holder cannot be known
#   importer            imports locks_import_helper, whose top level starts import-helper and joins
#   import-helper       it; import-helper imports the same module and waits for its import lock (the
#                       module's, 3.x; the global one, a C static, 2.7): a deadlock through an import
#
# The truth lists every thread (role, name, ident, native id) and what py-locks must answer: each
# lock's address (id()), its holders and waiters by role, each condition's waiters, the joins and the
# deadlocks. Which thread blocks where is staged by the script itself; that each one is blocked (in a
# futex wait) is for the test to check from outside before it looks.
#
# DAMAGE, for the tests of damaged objects (the damaged objects are never used again by the workload):
#   damaged-owner   the RLock's recorded owner is overwritten with an ident no thread has: its
#                   holder must not be named (not even the frame inside its `with` blocks)
#   damaged-type    lock_b's type pointer is overwritten with `object`'s: it is no lock any more, so
#                   lock_b and the wait for it are left out, and nothing else changes
#
# Runs unchanged on Python 2.7 and 3.6+.
from __future__ import print_function

import ctypes  # here, not where it is used: on 2.7 the staged import deadlock holds the import lock
import gc
import json
import os
import platform
import signal
import sys
import threading
import time

try:
    import queue
except ImportError:  # 2.7
    import Queue as queue

DAMAGE = sys.argv[1] if len(sys.argv) > 3 else ''
OUT_PATH = sys.argv[2] if DAMAGE else sys.argv[1]
LIFETIME = int(sys.argv[-1]) if len(sys.argv) > 2 else 240
BOGUS_IDENT = 0x5eed0000
PY2 = sys.version_info[0] == 2

# The safety net, should the test runner die without killing us: SIGALRM's default action ends us.
signal.alarm(LIFETIME)

lock_a = threading.Lock()
lock_b = threading.Lock()
rlock = threading.RLock()
cond = threading.Condition()
plain = threading.Lock()
forever = threading.Event()  # never set
sem = threading.Semaphore(0)
jobs = queue.Queue()
barrier = threading.Barrier(2) if not PY2 else None

a_has = threading.Event()
b_has = threading.Event()
rlock_held = threading.Event()
started = {}  # role -> Event set right before the thread blocks
REGISTRY = {}  # role -> [ident, native id]


def native_id():
    get = getattr(threading, 'get_native_id', None)  # 3.8+
    return get() if get is not None else None


def register(role):
    REGISTRY[role] = [threading.current_thread().ident, native_id()]


def take_a_then_b():
    register('lock-a')
    with lock_a:
        a_has.set()
        b_has.wait()
        with lock_b:
            pass


def take_b_then_a():
    register('lock-b')
    with lock_b:
        b_has.set()
        a_has.wait()
        with lock_a:
            pass


def hold_rlock_twice():
    register('rlock-holder')
    with rlock:
        with rlock:
            rlock_held.set()
            forever.wait()


def wait_for_rlock():
    register('rlock-waiter')
    rlock_held.wait()
    with rlock:
        pass


def wait_on_condition():
    register('cond-waiter')
    with cond:
        cond.wait()


def wait_on_semaphore():
    register('sem-waiter')
    sem.acquire()


def wait_on_queue():
    register('queue-waiter')
    jobs.get()


def wait_at_barrier():
    register('barrier-waiter')
    barrier.wait()


def wait_for_plain():
    register('plain-waiter')
    plain.acquire()


def import_helper_module():
    register('importer')
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import locks_import_helper  # noqa: F401  (never returns: its top level joins import-helper)


ROLES = [
    ('lock-a', take_a_then_b),
    ('lock-b', take_b_then_a),
    ('rlock-holder', hold_rlock_twice),
    ('rlock-waiter', wait_for_rlock),
    ('cond-waiter', wait_on_condition),
    ('plain-waiter', wait_for_plain),
    ('sem-waiter', wait_on_semaphore),
    ('queue-waiter', wait_on_queue),
    ('importer', import_helper_module),
]
if not PY2:
    ROLES.append(('barrier-waiter', wait_at_barrier))


def condition_of(primitive):
    # 2.7 mangles the private names of _Event and _Semaphore.
    for attr in ('_cond', '_Event__cond', '_Semaphore__cond'):
        cond_ = getattr(primitive, attr, None)
        if cond_ is not None:
            return cond_
    raise AttributeError('no condition in %r' % (primitive,))


def module_lock_address(name):
    import importlib._bootstrap as bootstrap
    ref = bootstrap._module_locks.get(name)
    lock = ref() if ref is not None else None
    return id(lock) if lock is not None else None


def damage():
    # No collection may look at the damaged objects (3.13+'s locks are GC-tracked heap-type instances,
    # and `object` has no tp_traverse).
    gc.disable()
    if DAMAGE == 'damaged-owner':
        if PY2:
            rlock._RLock__owner = BOGUS_IDENT  # 2.7's RLock is written in Python
        else:
            # rlock_owner (<= 3.13) or the recursive mutex's thread (3.14+), after PyObject_HEAD and one
            # pointer-sized field in every version.
            ctypes.c_ulong.from_address(id(rlock) + 24).value = BOGUS_IDENT
    elif DAMAGE == 'damaged-type':
        ctypes.c_void_p.from_address(id(lock_b) + 8).value = id(object)
    else:
        sys.exit('unknown damage %r' % DAMAGE)


def main():
    plain.acquire()  # held by the main thread, outside any with block
    for role, target in ROLES:
        threading.Thread(target=target, name=role).start()
    deadline = time.time() + 20
    expected = set(r for r, _ in ROLES) | {'import-helper'}
    while time.time() < deadline:
        names = dict((t.name, t) for t in threading.enumerate())
        helper = names.get('import-helper')
        if helper is not None and helper.ident is not None and 'import-helper' not in REGISTRY:
            REGISTRY['import-helper'] = [helper.ident, getattr(helper, 'native_id', None)]
        if expected <= set(REGISTRY) and (PY2 or module_lock_address('locks_import_helper')):
            break
        time.sleep(0.05)
    else:
        sys.exit('the threads did not start: %r' % sorted(REGISTRY))
    REGISTRY['main'] = [threading.current_thread().ident, native_id()]

    def lock_entry(obj, name, held_by, waiters, count=1, holder_known=True, module=None):
        return {'address': id(obj) if not isinstance(obj, int) else obj, 'name': name, 'held_by': held_by,
                'holder_known': holder_known, 'count': count, 'waiters': waiters, 'module': module}

    locks = [
        lock_entry(lock_a, 'locks.lock_a', ['lock-a'], ['lock-b']),
        lock_entry(lock_b, 'locks.lock_b', ['lock-b'], ['lock-a']),
        lock_entry(rlock, 'locks.rlock', ['rlock-holder'], ['rlock-waiter'], count=2),
        lock_entry(plain, 'locks.plain', None, ['plain-waiter'], holder_known=False),
    ]
    # What py-bt-all says of each thread blocked acquiring a lock: [the lock's name, its holder's role].
    bt_waits = {'lock-a': ['locks.lock_b', 'lock-b'], 'lock-b': ['locks.lock_a', 'lock-a'],
                'rlock-waiter': ['locks.rlock', 'rlock-holder']}
    conditions = [
        {'address': id(cond), 'condition': id(cond), 'name': 'locks.cond', 'waiters': ['cond-waiter']},
        {'address': id(forever), 'condition': id(condition_of(forever)), 'name': 'locks.forever',
         'waiters': ['rlock-holder']},
        {'address': id(sem), 'condition': id(condition_of(sem)), 'name': 'locks.sem', 'waiters': ['sem-waiter']},
        {'address': id(jobs), 'condition': id(jobs.not_empty), 'name': 'locks.jobs', 'waiters': ['queue-waiter']},
    ]
    if barrier is not None:
        conditions.append({'address': id(barrier), 'condition': id(condition_of(barrier)), 'name': 'locks.barrier',
                           'waiters': ['barrier-waiter']})
    joins = [{'waiter': 'importer', 'joins': 'import-helper'}]
    deadlocks = [['lock-a', 'lock-b']]
    # What only a symbol table shows: 2.7's import lock is a C static, known by its name alone.
    symbols_only = {'locks': [], 'deadlocks': []}
    if DAMAGE:
        damage()
    if DAMAGE == 'damaged-owner':
        locks[2] = lock_entry(rlock, 'locks.rlock', None, ['rlock-waiter'], count=2)  # an owner, but no thread
        bt_waits['rlock-waiter'] = ['locks.rlock', None]
    if DAMAGE == 'damaged-type':
        del locks[1]  # lock-a waits for what is no lock any more: for nothing pyxray can name
        del bt_waits['lock-a']
        deadlocks = []
    if PY2:
        import_lock = lock_entry(0, 'the import lock', ['importer'], ['import-helper'])
        import_lock['address'] = None  # no object: matched by its kind
        import_lock['kind'] = 'import_lock'
        symbols_only['locks'].append(import_lock)
        symbols_only['deadlocks'].append(['importer', 'import-helper'])
    else:
        locks.append(lock_entry(module_lock_address('locks_import_helper'), None, ['importer'], ['import-helper'],
                                module='locks_import_helper'))
        deadlocks.append(['importer', 'import-helper'])
    truth = {
        'pid': os.getpid(),
        'version': platform.python_version(),
        'threads': [{'role': role, 'name': 'MainThread' if role == 'main' else role, 'ident': ident,
                     'native_id': nid} for role, (ident, nid) in sorted(REGISTRY.items())],
        'locks': locks,
        'conditions': conditions,
        'joins': joins,
        'deadlocks': deadlocks,
        'bt_waits': bt_waits,
        'symbols_only': symbols_only,
    }
    tmp = OUT_PATH + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(truth, f)
    os.rename(tmp, OUT_PATH)
    while True:
        time.sleep(1000)


main()
