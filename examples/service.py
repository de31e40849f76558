#!/usr/bin/env python3
"""A tiny, deliberately boring "service" to point pyxray at.

It starts a handful of named threads that are each stuck somewhere typical:

  acceptor    blocked in socket.accept() on 127.0.0.1 (random port)
  worker-N    pull jobs from a queue: handle -> parse -> validate -> compute
  migrator    grabbed the database lock and is waiting forever (the bug)
  db-pool     waiting for that lock: the "why is my service hung?" thread
  metrics     wakes up once a second to report a number nobody reads

Once everything is running it prints "READY <pid>" (flushed) and then runs
until killed. Works on Python 2.7 and 3.6+.

    python3 examples/service.py
"""
from __future__ import print_function

import os
import random
import socket
import sys
import threading
import time

try:
    import queue  # Python 3
except ImportError:  # Python 2.7
    import Queue as queue

jobs = queue.Queue()
db_lock = threading.Lock()
never = threading.Event()  # nobody ever sets this: that is the hang
stats = {"done": 0}


def name_this_thread():
    """Best effort: copy the Python thread name to the OS thread (Linux),
    so `info threads` in gdb and `top -H` show it too."""
    try:
        import ctypes
        name = threading.current_thread().name[:15].encode()
        ctypes.CDLL(None).prctl(15, ctypes.c_char_p(name), 0, 0, 0)  # PR_SET_NAME
    except Exception:
        pass


# --- acceptor -------------------------------------------------------------
def acceptor(server):
    name_this_thread()
    while True:
        conn, _ = server.accept()  # blocks here: nobody connects
        conn.close()


# --- workers --------------------------------------------------------------
def compute(numbers):
    if sum(numbers) % 3 == 0:
        time.sleep(1.0)  # "slow query"
    return sum(n * n for n in numbers)


def validate(numbers):
    if not numbers:
        raise ValueError("empty job")
    return compute(numbers)


def parse(payload):
    return validate([int(x) for x in payload.split(",")])


def handle(payload):
    return parse(payload)


def worker():
    name_this_thread()
    while True:
        payload = jobs.get()  # blocks here when idle
        handle(payload)
        stats["done"] += 1


# --- the hang: one thread holds the DB lock, another waits for it ----------
def migrator():
    name_this_thread()
    with db_lock:
        run_migration()


def run_migration():
    never.wait()  # waits for an event that never comes, holding db_lock


def get_connection():
    with db_lock:  # db-pool is stuck here
        return "conn"


def db_pool():
    name_this_thread()
    while True:
        get_connection()
        time.sleep(1)


# --- metrics --------------------------------------------------------------
def metrics():
    name_this_thread()
    while True:
        time.sleep(1)
        # A real service would ship this somewhere.
        stats["report"] = "done=%d queued=%d" % (stats["done"], jobs.qsize())


def start(name, target, *args):
    t = threading.Thread(name=name, target=target, args=args)
    t.daemon = True
    t.start()
    return t


def main():
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))  # loopback only, any free port
    server.listen(8)

    start("acceptor", acceptor, server)
    for i in range(4):
        start("worker-%d" % i, worker)
    start("migrator", migrator)
    while not db_lock.locked():  # make sure the migrator wins the race
        time.sleep(0.01)
    start("db-pool", db_pool)
    start("metrics", metrics)

    jobs.put("1,2,3")  # two slow jobs up front, so a look right after READY
    jobs.put("4,5,6")  # finds workers busy in compute() as well as idle ones
    print("READY %d" % os.getpid())
    sys.stdout.flush()

    # The main thread plays "load balancer": feed the workers forever.
    while True:
        jobs.put(",".join(str(random.randint(1, 9)) for _ in range(3)))
        time.sleep(0.2)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
