# Integration-test workload for the system call a thread is blocked in: the main thread holds a lock
# and blocks in os.read(); one more thread blocks acquiring that lock (in futex() underneath). Writes
# the ground truth (each thread's ident, native id and role) to OUT_PATH as JSON:
#
#   python lock_wait.py OUT_PATH [LIFETIME_SECONDS]
#
# Must run unchanged on Python 2.7 and 3.6+. The reporter thread exits right after writing OUT_PATH;
# nothing changes afterwards. Whether the waiter already sleeps in futex() the test sees from outside
# (/proc/PID/task/TID/syscall).
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
LOCK = thread_mod.allocate_lock()
REGISTRY = {}                  # thread ident -> [role, native id]


def native_id():
    get = getattr(thread_mod, 'get_native_id', None)  # 3.8+
    if get is not None:
        return get()
    import ctypes  # 2.7 to 3.7: gettid(2) through libc's syscall()
    return ctypes.CDLL(None, use_errno=True).syscall(186 if platform.machine() == 'x86_64' else 178)


def register(role):
    REGISTRY[thread_mod.get_ident()] = [role, native_id()]


def waiter(role):
    register(role)
    LOCK.acquire()


def settled():
    frames = sys._current_frames()
    for ident, (role, _) in list(REGISTRY.items()):
        frame = frames.get(ident)
        if role == 'waiter' and (frame is None or frame.f_code.co_name != 'waiter'):
            return False
    return sorted(role for role, _ in REGISTRY.values()) == ['main', 'waiter']


def report(out_path):
    deadline = time.time() + READY_TIMEOUT
    while not settled():
        if time.time() > deadline:
            sys.stderr.write('lock_wait.py: threads did not settle within %.0f s: %r\n' % (READY_TIMEOUT, REGISTRY))
            sys.stderr.flush()
            os._exit(3)
        time.sleep(0.05)
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


def main():
    out_path = sys.argv[1]
    lifetime = int(sys.argv[2]) if len(sys.argv) > 2 else 120
    signal.alarm(lifetime)  # SIGALRM's default action ends the process: no leftovers
    LOCK.acquire()
    register('main')
    thread_mod.start_new_thread(waiter, ('waiter',))
    thread_mod.start_new_thread(report, (out_path,))
    os.read(BLOCK_FD, 1)


if __name__ == '__main__':
    main()
