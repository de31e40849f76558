# Integration-test workload for py-tasks: a known tree of asyncio tasks on two event loops, each task
# suspended at a known await, then the ground truth written to OUT_PATH as JSON:
#
#   python tasks.py OUT_PATH [LIFETIME_SECONDS]
#
# Main thread, loop 1 (every task named after its role, 3.8+; before 3.8 tasks have no names and are
# told apart by their coroutine's function, one per task):
#   main             gathers waits-child, waits-queue, sleeps and group
#   waits-child      awaits the task child, which sleeps
#   waits-queue      awaits get() on an empty asyncio.Queue
#   sleeps           awaits level1 -> level2 -> asyncio.sleep
#   group            3.11+: a TaskGroup of tg-event and tg-shield, waiting in its __aexit__; before
#                    3.11 it gathers the same two tasks
#   tg-event         awaits an asyncio.Event nobody sets
#   tg-shield        awaits asyncio.shield(shielded); shielded sleeps
#   timeout          awaits asyncio.wait_for(wait-for-inner, ...); wait-for-inner sleeps
#   cycle-a, cycle-b each awaits the other: a deadlock
#   agen-consumer    iterates an async generator (ticker) that sleeps between items
# Thread loop2, loop 2:
#   spinner          running: spins in the plain function burn(), called from its coroutine
#   loop2-sleeper    sleeps, on loop 2
#
# The truth: every task as the process itself sees it (asyncio.all_tasks() of each loop): its name,
# its coroutine chain (following cr_await / gi_yieldfrom / ag_await, innermost first, function and
# line), task.get_stack()'s frame, its loop's thread, and the tasks awaiting it by design (3.14+
# checks the design against asyncio.capture_call_graph and records any difference).
#
# Runs unchanged on CPython 3.6 to 3.15.
import asyncio
import ctypes
import json
import os
import platform
import signal
import sys
import threading

OUT_PATH = sys.argv[1]
LIFETIME = int(sys.argv[2]) if len(sys.argv) > 2 else 240
signal.alarm(LIFETIME)  # the safety net, should the test runner die without killing us

HAS_NAMES = sys.version_info >= (3, 8)
HAS_TASKGROUP = sys.version_info >= (3, 11)
LONG = 3600

TASKS = {}  # role -> Task
ARRIVED = set()  # roles whose coroutine is at its final await
REGISTRY = {}  # thread role -> [ident, native id]
AWAITED_BY = {  # role -> roles awaiting it, by design
    'waits-child': ['main'], 'waits-queue': ['main'], 'sleeps': ['main'], 'group': ['main'],
    'child': ['waits-child'], 'tg-event': ['group'], 'tg-shield': ['group'], 'shielded': ['tg-shield'],
    'wait-for-inner': ['timeout'], 'cycle-a': ['cycle-b'], 'cycle-b': ['cycle-a'],
}
QUEUE = None
EVENT = None
AGEN = None
spinner_line = [0]


def native_id():
    return ctypes.CDLL(None, use_errno=True).syscall(186)  # gettid, x86-64 Linux


def register(role):
    REGISTRY[role] = [threading.current_thread().ident, native_id()]


def spawn(loop, role, coro):
    task = loop.create_task(coro, name=role) if HAS_NAMES else loop.create_task(coro)
    TASKS[role] = task
    return task


def arrive(role):
    ARRIVED.add(role)


async def child():
    arrive('child')
    await asyncio.sleep(LONG)


async def worker_child_waiter():
    arrive('waits-child')
    await TASKS['child']


async def worker_queue():
    arrive('waits-queue')
    await QUEUE.get()


async def level2():
    arrive('sleeps')
    await asyncio.sleep(LONG)


async def level1():
    await level2()


async def worker_sleeps():
    await level1()


async def tg_event_waiter():
    arrive('tg-event')
    await EVENT.wait()


async def shielded_sleeper():
    arrive('shielded')
    await asyncio.sleep(LONG)


async def tg_shielder():
    arrive('tg-shield')
    await asyncio.shield(TASKS['shielded'])


async def group():
    loop = asyncio.get_event_loop()
    if HAS_TASKGROUP:
        async with asyncio.TaskGroup() as tg:
            TASKS['tg-event'] = tg.create_task(tg_event_waiter(), name='tg-event')
            TASKS['tg-shield'] = tg.create_task(tg_shielder(), name='tg-shield')
            arrive('group')
    else:
        a = spawn(loop, 'tg-event', tg_event_waiter())
        b = spawn(loop, 'tg-shield', tg_shielder())
        arrive('group')
        await asyncio.gather(a, b)


async def inner_sleeper():
    arrive('wait-for-inner')
    await asyncio.sleep(LONG)


async def timeout_waiter():
    arrive('timeout')
    await asyncio.wait_for(TASKS['wait-for-inner'], LONG)


async def cycle_a():
    await asyncio.sleep(0)
    arrive('cycle-a')
    await TASKS['cycle-b']


async def cycle_b():
    await asyncio.sleep(0)
    arrive('cycle-b')
    await TASKS['cycle-a']


async def ticker():
    while True:
        await asyncio.sleep(LONG)
        yield 1


async def agen_consumer():
    arrive('agen-consumer')
    async for _ in AGEN:
        pass


def burn():
    n = 0
    while True:
        n += 1


async def spinner(ready):
    register('loop2')
    spinner_line[0] = sys._getframe().f_lineno + 2
    ready.set()
    burn()


async def loop2_sleeper():
    arrive('loop2-sleeper')
    await asyncio.sleep(LONG)


def run_loop2(ready):
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    LOOPS['loop2'] = loop
    spawn(loop, 'loop2-sleeper', loop2_sleeper())
    loop.run_until_complete(spawn(loop, 'spinner', spinner(ready)))


LOOPS = {}


def all_tasks(loop):
    if hasattr(asyncio, 'all_tasks'):
        return asyncio.all_tasks(loop)
    return {t for t in asyncio.Task.all_tasks(loop) if not t.done()}  # 3.6


def await_chain(task):
    """The suspended frames from the task's coroutine down its awaits, innermost first."""
    obj = task.get_coro() if hasattr(task, 'get_coro') else task._coro
    frames = []
    seen = set()
    while obj is not None and id(obj) not in seen:
        seen.add(id(obj))
        if type(obj).__name__ == 'async_generator_asend':
            obj = AGEN  # Python cannot see through asend: the one async generator here is AGEN
            continue
        frame = getattr(obj, 'cr_frame', None) or getattr(obj, 'gi_frame', None) or getattr(obj, 'ag_frame', None)
        if frame is None:
            break
        frames.append({'function': frame.f_code.co_name, 'file': frame.f_code.co_filename, 'line': frame.f_lineno})
        nxt = None
        for attr in ('cr_await', 'gi_yieldfrom', 'ag_await'):
            if hasattr(obj, attr):
                nxt = getattr(obj, attr)
                break
        obj = nxt
    frames.reverse()
    return frames


def role_of(task):
    for role, t in TASKS.items():
        if t is task:
            return role
    return None


def call_graph_differences():
    """3.14+: the design's awaited-by edges against what asyncio itself says."""
    if not hasattr(asyncio, 'capture_call_graph'):
        return []
    out = []
    for role, task in TASKS.items():
        # capture_call_graph walks awaited_by recursively, and never returns on the cycle (3.14.x)
        if role in ('spinner', 'cycle-a', 'cycle-b') or task.done():
            continue
        graph = asyncio.capture_call_graph(task, depth=1)
        said = sorted(role_of(w.future) for w in graph.awaited_by)
        if said != sorted(AWAITED_BY.get(role, [])):
            out.append('%s: capture_call_graph says awaited by %s, the design %s' % (role, said, AWAITED_BY.get(role)))
    return out


def write_truth():
    tasks = []
    for loop_role, loop in sorted(LOOPS.items()):
        for task in all_tasks(loop):
            role = role_of(task)
            if role == 'spinner':
                stack = [{'function': 'burn', 'file': __file__, 'line': None},
                         {'function': 'spinner', 'file': __file__, 'line': spinner_line[0]}]
            else:
                stack = await_chain(task)
            # get_stack() of a running task lists its thread's whole stack: its coroutine's own frame
            # is the one that matters.
            frames = task.get_stack() if role != 'spinner' else []
            outer = frames[0] if frames else None
            tasks.append({
                'role': role,
                'name': task.get_name() if HAS_NAMES else '',
                'outer_function': stack[-1]['function'] if stack else None,
                'thread': REGISTRY[loop_role][1],
                'running': role == 'spinner',
                'stack': stack,
                'get_stack_outer': ({'function': outer.f_code.co_name, 'line': outer.f_lineno} if outer
                                    else {'function': 'spinner', 'line': spinner_line[0]}),
                'awaited_by': AWAITED_BY.get(role, []),
            })
    truth = {
        'pid': os.getpid(),
        'version': platform.python_version(),
        'threads': [{'role': role, 'name': 'MainThread' if role == 'main' else role, 'ident': ident,
                     'native_id': nid} for role, (ident, nid) in sorted(REGISTRY.items())],
        'tasks': tasks,
        'deadlocks': [['cycle-a', 'cycle-b']],
        'call_graph_differences': call_graph_differences(),
    }
    tmp = OUT_PATH + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(truth, f)
    os.rename(tmp, OUT_PATH)


EXPECTED = {'child', 'waits-child', 'waits-queue', 'sleeps', 'group', 'tg-event', 'tg-shield', 'shielded',
            'wait-for-inner', 'timeout', 'cycle-a', 'cycle-b', 'agen-consumer', 'loop2-sleeper'}


def write_truth_when_settled(loop, ready):
    # Each task marks its arrival in the same step as its final await, so once every one has arrived
    # and this callback runs in a later iteration, all of them are suspended where they will stay.
    if ready.is_set() and EXPECTED <= ARRIVED:
        write_truth()
    else:
        loop.call_later(0.05, write_truth_when_settled, loop, ready)


async def main(ready):
    global QUEUE, EVENT, AGEN
    loop = asyncio.get_event_loop()
    TASKS['main'] = asyncio.current_task() if hasattr(asyncio, 'current_task') else asyncio.Task.current_task()
    if HAS_NAMES:
        TASKS['main'].set_name('main')
    QUEUE = asyncio.Queue()
    EVENT = asyncio.Event()
    AGEN = ticker()
    spawn(loop, 'child', child())
    spawn(loop, 'shielded', shielded_sleeper())
    spawn(loop, 'wait-for-inner', inner_sleeper())
    spawn(loop, 'timeout', timeout_waiter())
    spawn(loop, 'cycle-a', cycle_a())
    spawn(loop, 'cycle-b', cycle_b())
    spawn(loop, 'agen-consumer', agen_consumer())
    workers = [spawn(loop, 'waits-child', worker_child_waiter()),
               spawn(loop, 'waits-queue', worker_queue()),
               spawn(loop, 'sleeps', worker_sleeps()),
               spawn(loop, 'group', group())]
    loop.call_later(0.05, write_truth_when_settled, loop, ready)
    await asyncio.gather(*workers)


def run():
    register('main')
    ready = threading.Event()
    threading.Thread(target=run_loop2, args=(ready,), name='loop2', daemon=True).start()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    LOOPS['main'] = loop
    loop.run_until_complete(main(ready))


run()
