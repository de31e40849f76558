# Integration-test workload for a core of a crash: a thread named "crasher" writes to address 0
# through ctypes (SIGSEGV in a C function, as a buggy extension would) once the test asks for it; the
# main thread and one more thread block in os.read(). Writes the ground truth (each thread's ident,
# native id and role) to OUT_PATH as JSON, then waits for OUT_PATH.go to appear:
#
#   python crash.py OUT_PATH [LIFETIME_SECONDS]
#
# Before crashing it moves to OUT_PATH's directory, where the kernel then writes the core (a
# core_pattern of "core" names a file in the crashing process's working directory; inside a
# container, that directory is bound at the same path as outside). Python 3.8+ (native ids).
import ctypes
import json
import os
import platform
import signal
import sys
import threading
import time

BLOCK_FD, KEEP_FD = os.pipe()  # nothing is ever written to KEEP_FD
REGISTRY = {}                  # thread ident -> [role, native id]


def register(role):
    REGISTRY[threading.get_ident()] = [role, threading.get_native_id()]


def blocked(role):
    register(role)
    os.read(BLOCK_FD, 1)


def crash_now():
    ctypes.memset(0, 1, 1)  # a write to address 0: SIGSEGV inside libc's memset


def crasher(go_path):
    register('crasher')
    while not os.path.exists(go_path):
        time.sleep(0.01)
    crash_now()


def main():
    out_path = sys.argv[1]
    lifetime = int(sys.argv[2]) if len(sys.argv) > 2 else 120
    signal.alarm(lifetime)  # SIGALRM's default action ends the process: no leftovers
    os.chdir(os.path.dirname(os.path.abspath(out_path)))
    threading.Thread(target=crasher, args=(out_path + '.go',), name='crasher', daemon=True).start()
    threading.Thread(target=blocked, args=('blocked-1',), name='blocked-1', daemon=True).start()

    def report():
        while len(REGISTRY) < 3:
            time.sleep(0.01)
        result = {
            'pid': os.getpid(),
            'python': platform.python_version(),
            'version_info': list(sys.version_info[:3]),
            'threads': [{'thread_id': ident, 'native_id': nid, 'role': role}
                        for ident, (role, nid) in list(REGISTRY.items())],
        }
        with open(out_path + '.tmp', 'w') as f:
            json.dump(result, f, indent=1)
        os.rename(out_path + '.tmp', out_path)

    threading.Thread(target=report, name='reporter', daemon=True).start()
    blocked('blocked-main')


if __name__ == '__main__':
    main()
