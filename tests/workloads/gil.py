# Integration-test workload for thread status (running / gc / waiting_for_gil / idle): puts threads in
# known GIL situations and writes the ground truth (each thread's ident, native id and role) to
# OUT_PATH as JSON:
#
#   python gil.py MODE OUT_PATH [LIFETIME_SECONDS]
#
# MODE "spinners": two threads spin in pure Python forever (at any moment one holds the GIL and the
#   other waits for it), two more threads and the main thread block in os.read() without the GIL.
# MODE "gc": one thread calls gc.collect(); a gc.callbacks callback spins forever on phase "start"
#   (that thread holds the GIL while the collector runs); the other threads block in os.read().
#   Needs gc.callbacks (3.3+): exits with status 5 on older versions.
#
# Must run unchanged on Python 2.7 and 3.6+. Threads come from the low-level thread module. The
# reporter thread exits right after writing OUT_PATH; nothing else changes afterwards.
import gc
import json
import os
import platform
import signal
import sys
import time

try:
    import _thread as thread_mod
except ImportError:  # 2.7
    import thread as thread_mod

READY_TIMEOUT = 20.0
BLOCK_FD, KEEP_FD = os.pipe()  # nothing is ever written to KEEP_FD
REGISTRY = {}                  # thread ident -> [role, native id]
GC_THREAD = []                 # the ident of the thread whose collection spins


def native_id():
    get = getattr(thread_mod, 'get_native_id', None)  # 3.8+
    return get() if get is not None else None


def register(role):
    REGISTRY[thread_mod.get_ident()] = [role, native_id()]


def blocked(role):
    register(role)
    os.read(BLOCK_FD, 1)


def spinner(role):
    register(role)
    count = 0
    while True:
        count += 1


def on_gc(phase, info):
    if phase == 'start' and GC_THREAD and thread_mod.get_ident() == GC_THREAD[0]:
        while True:
            pass


def collector(role):
    GC_THREAD.append(thread_mod.get_ident())
    register(role)
    gc.callbacks.append(on_gc)
    gc.collect()


def in_function(frame, name):
    return frame is not None and frame.f_code.co_name == name


def settled(roles):
    """Every thread registered and where it should be (blocked ones in os.read, the collector in
    its callback); nothing more can be asked of a thread that holds or waits for the GIL."""
    items = list(REGISTRY.items())
    if sorted(role for _, (role, _) in items) != sorted(roles):
        return False
    frames = sys._current_frames()
    for ident, (role, _) in items:
        frame = frames.get(ident)
        if role.startswith('blocked') and not in_function(frame, 'blocked'):
            return False
        if role == 'gc' and not in_function(frame, 'on_gc'):
            return False
    return True


def report(out_path, roles):
    deadline = time.time() + READY_TIMEOUT
    stable = 0
    while stable < 3:  # three checks in a row, 0.1 s apart
        stable = stable + 1 if settled(roles) else 0
        if time.time() > deadline:
            sys.stderr.write('gil.py: threads did not settle within %.0f s: %r\n' % (READY_TIMEOUT, REGISTRY))
            sys.stderr.flush()
            os._exit(3)
        time.sleep(0.1)
    result = {
        'pid': os.getpid(),
        'python': platform.python_version(),
        'version_info': list(sys.version_info[:3]),
        'threads': [{'thread_id': ident, 'native_id': nid, 'role': role}
                    for ident, (role, nid) in list(REGISTRY.items())],
    }
    tmp_path = out_path + '.tmp'
    with open(tmp_path, 'w') as f:
        json.dump(result, f, indent=1)
    os.rename(tmp_path, out_path)
    if hasattr(sys, 'setcheckinterval') and sys.version_info[0] == 2:
        # 2.7 drops and retakes the GIL every 100 bytecodes even without contention; with only
        # the collector left running, make that practically never happen.
        sys.setcheckinterval(1 << 30)


def main():
    mode, out_path = sys.argv[1], sys.argv[2]
    lifetime = int(sys.argv[3]) if len(sys.argv) > 3 else 120
    signal.alarm(lifetime)  # SIGALRM's default action ends the process: no leftovers
    if mode == 'spinners':
        workers = [('spinner-1', spinner), ('spinner-2', spinner), ('blocked-1', blocked), ('blocked-2', blocked)]
    elif mode == 'gc':
        if not hasattr(gc, 'callbacks'):
            sys.stderr.write('gil.py: gc.callbacks needs Python 3.3+\n')
            sys.exit(5)
        workers = [('gc', collector), ('blocked-1', blocked), ('blocked-2', blocked)]
    else:
        sys.stderr.write('usage: gil.py spinners|gc OUT_PATH [LIFETIME_SECONDS]\n')
        sys.exit(2)
    roles = ['blocked-main'] + [role for role, _ in workers]
    for role, fn in workers:
        thread_mod.start_new_thread(fn, (role,))
    thread_mod.start_new_thread(report, (out_path, roles))
    blocked('blocked-main')


if __name__ == '__main__':
    main()
