# -*- coding: utf-8 -*-
"""Workload for the py-arenas tests (CPython 2.7 and 3.6+, x86-64 Linux with glibc).

Usage: arenas.py OUT_DIR LIFETIME_SECONDS [--reference-walker]

Builds a known mix on both heaps - small objects of many sizes in pymalloc with every third one freed,
a burst of objects freed again (empty pools, reclaimed arenas), glibc chunks freed into fastbins and
bins, mmapped chunks, and two threads that fill their own glibc arenas - then, at one stable point,
records what the process says about its own heaps and blocks for good:

  OUT_DIR/meta.json             pid, version, which files follow (written before the snapshot)
  OUT_DIR/glibc.1.xml           malloc_info(0, fp)
  OUT_DIR/mallinfo2.1.bin       struct mallinfo2, 10 native size_t (when glibc has mallinfo2)
  OUT_DIR/debugmallocstats.1.txt  sys._debugmallocstats() (CPython 3)
  OUT_DIR/walker.json           pymalloc as walked from a forked child (2.7, or --reference-walker)
  OUT_DIR/done.1                one byte, written last

Why the numbers stay true after the snapshot: nothing allocates once it is taken.
  * Every file, buffer, FILE*, function and argument is created beforehand.
  * The snapshot sequence runs twice ("rounds" 0 and 1, each with its own files): round 0 primes every
    cache, free list and lazily created object the sequence touches, so round 1 - the one reported -
    leaves pymalloc and glibc exactly as it measured them. The loop uses only small ints (cached).
  * glibc is measured first: malloc_info() writes into a FILE whose buffer we supplied (setvbuf), and
    mallinfo2() is called with the address of a preallocated buffer as its hidden return pointer, so
    neither mallocs. What follows (ctypes calls, os.write, dup2, _debugmallocstats) only creates short-
    lived objects <= 512 bytes, i.e. pymalloc blocks, which glibc never sees.
  * pymalloc is measured next (sys._debugmallocstats, stderr redirected to a file with dup2). After it
    come only os.write(done) and time.sleep(), whose argument tuples (if any) come from, and go back
    to, the tuple free lists that round 0 filled: no pymalloc block changes hands.
  * The garbage collector is disabled; the two other threads are blocked in lock.acquire() (checked
    before the snapshot); SIGALRM keeps its default action (the safety net just kills the process).
2.7 has no sys._debugmallocstats, so its pymalloc truth comes from a forked child that reads the
parent's frozen memory through /proc/PPID/mem and walks the arenas exactly as _debugmallocstats does
(statics found in libpython's .symtab); --reference-walker runs the same walker on 3.x so that the
tests can check it against _debugmallocstats.
"""
import ctypes
import gc
import json
import os
import platform
import signal
import struct
import sys
import threading
import time

PY3 = sys.version_info[0] >= 3


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.rename(tmp, path)


# --- the reference walker (run in a forked child on the parent's memory) ---

def find_libpython(pid):
    with open("/proc/%d/maps" % pid) as maps:
        for line in maps:
            parts = line.split()
            if len(parts) >= 6 and "libpython" in parts[5] and int(parts[2], 16) == 0:
                return parts[5], int(parts[0].split("-")[0], 16)
    return None, None


def elf_object_symbols(path, wanted):
    """Local or global data symbols of an ELF64 little-endian file's .symtab: name -> [values]."""
    with open(path, "rb") as f:
        data = f.read()
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = []
    for i in range(shnum):
        fields = struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize)
        sections.append((fields[1], fields[4], fields[5], fields[6]))  # type, offset, size, link
    out = {}
    for sh_type, offset, size, link in sections:
        if sh_type != 2:  # SHT_SYMTAB
            continue
        strtab = sections[link][1]
        for j in range(size // 24):
            st_name, st_info, _other, _shndx, st_value, _size = struct.unpack_from("<IBBHQQ", data, offset + 24 * j)
            if st_info & 0xF != 1:  # STT_OBJECT
                continue
            end = data.index(b"\0", strtab + st_name)
            name = data[strtab + st_name:end].decode("ascii", "replace")
            if name in wanted:
                out.setdefault(name, []).append(st_value)
    return out


def reference_walk(ppid):
    """pymalloc as _PyObject_DebugMallocStats computes it, from the parent's memory."""
    path, base = find_libpython(ppid)
    if path is None:
        return {"error": "no libpython mapped (a static build)"}
    # A stripped copy has the same layout as the original: the tests name the original's symbol table.
    symtab = os.environ.get("PYXRAY_ARENAS_SYMTAB") or path
    names = ["arenas", "maxarenas", "narenas_currently_allocated", "ntimes_arena_allocated", "narenas_highwater"]
    syms = elf_object_symbols(symtab, set(names))
    if "arenas" not in syms or "maxarenas" not in syms:
        return {"error": "%s has no symbol table naming arenas/maxarenas" % symtab}
    if any(len(v) != 1 for v in syms.values()):
        return {"error": "ambiguous symbols: %r" % syms}
    mem = open("/proc/%d/mem" % ppid, "rb", 0)

    def read(addr, n):
        mem.seek(addr)
        return mem.read(n)

    def u64(addr):
        return struct.unpack("<Q", read(addr, 8))[0]

    v = sys.version_info
    pool_size = 16384 if v >= (3, 10) else 4096
    arena_size = 1 << 20 if v >= (3, 10) else 256 * 1024
    pool_overhead = 48  # sizeof(struct pool_header), a multiple of the alignment
    arenas = u64(base + syms["arenas"][0])
    maxarenas = struct.unpack("<I", read(base + syms["maxarenas"][0], 4))[0]
    counters = {}
    for name in names[2:]:
        if name in syms:
            counters[name] = u64(base + syms[name][0])
    slots = read(arenas, 48 * maxarenas) if maxarenas else b""
    classes = {}  # szidx -> [size, pools, blocks, avail]
    narenas = numfreepools = arena_alignment = 0
    for i in range(maxarenas):
        address, pool_address, nfreepools, ntotalpools = struct.unpack_from("<QQII", slots, 48 * i)
        if address == 0:
            continue
        narenas += 1
        numfreepools += nfreepools
        p = address
        if p & (pool_size - 1):
            arena_alignment += pool_size
            p = (p & ~(pool_size - 1)) + pool_size
        while p < pool_address:
            count, _fb, _np, _pp, _ai, szidx, _no, maxnextoffset = struct.unpack("<I4xQQQIIII", read(p, 48))
            if count:
                size = pool_size - maxnextoffset  # maxnextoffset = POOL_SIZE - block size
                c = classes.setdefault(szidx, [size, 0, 0, 0])
                if c[0] != size:
                    return {"error": "size class %d has blocks of %d and %d bytes" % (szidx, c[0], size)}
                c[1] += 1
                c[2] += count
                c[3] += (pool_size - pool_overhead) // size - count
            p += pool_size
    out = {"classes": [[k] + classes[k] for k in sorted(classes)], "arenas": narenas,
           "arena_size": arena_size, "pool_size": pool_size, "unused_pools": numfreepools,
           "bytes_lost_to_arena_alignment": arena_alignment}
    out.update(counters)
    out["bytes_in_allocated_blocks"] = sum(c[0] * c[2] for c in classes.values())
    out["bytes_in_available_blocks"] = sum(c[0] * c[3] for c in classes.values())
    return out


def walker_child(out_dir, done_path):
    ppid = os.getppid()
    deadline = time.time() + 30
    while time.time() < deadline and not (os.path.exists(done_path) and os.path.getsize(done_path) > 0):
        time.sleep(0.01)
    time.sleep(0.2)  # the parent is in time.sleep() by now
    try:
        result = reference_walk(ppid)
    except Exception as e:  # report, do not hang the test
        result = {"error": "%s: %s" % (type(e).__name__, e)}
    write_json(os.path.join(out_dir, "walker.json"), result)


# --- the heap ---

def build_pymalloc_heap():
    keep = []
    for size in range(1, 440, 9):  # strings spread over every size class up to 512 bytes
        for i in range(150):
            keep.append(("%07d" % i) + "a" * size)
    for n in range(0, 40, 3):
        for i in range(100):
            keep.append(tuple(range(i, i + n)))
    keep.extend(float(i) + 0.5 for i in range(3000))
    keep.extend({"k%d" % i: i} for i in range(500))
    del keep[::3]  # free blocks in used pools
    burst = [("%07d" % i) * 3 for i in range(80000)]  # whole pools and arenas freed again
    del burst
    return keep


def build_glibc_heap(libc):
    big = [bytearray(n) for n in (600, 1000, 3000, 20000, 100000, 300000, 2000000, 5000000)]
    mid = [bytearray(700 + 64 * i) for i in range(300)]
    del mid[::2]  # holes in the main arena's bins
    kept = [libc.malloc(4 << 20) for _ in range(2)]  # mmapped chunks
    return big, mid, kept


def glibc_churn(libc, ptrs):
    """Small chunks freed into tcache and fastbins, medium ones into the unsorted bin. Last thing before
    the snapshot machinery runs: a large malloc would consolidate the fastbins."""
    for i in range(len(ptrs)):
        ptrs[i] = libc.malloc(24 + 16 * (i % 5) if i < 300 else 1200 + 8 * i)
    for i in range(0, len(ptrs), 2):
        libc.free(ptrs[i])
        ptrs[i] = 0


def worker(k, ready, holder, block):
    data = [bytearray(1000 + 37 * i) for i in range(200)]  # this thread's own glibc arena
    del data[::2]
    small = [("w%d-%d" % (k, i)) * (i % 20 + 1) for i in range(3000)]
    del small[::4]
    holder[k] = (data, small)
    ready[k] = True
    block.acquire()  # held by the main thread: blocks for good, without allocating


def main():
    out_dir = sys.argv[1]
    lifetime = int(sys.argv[2])
    reference_walker = "--reference-walker" in sys.argv[3:] or not PY3
    signal.alarm(lifetime)  # safety net; default action, no Python handler runs

    libc = ctypes.CDLL(None)
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    libc.free.restype = None
    libc.fdopen.argtypes = [ctypes.c_int, ctypes.c_char_p]
    libc.fdopen.restype = ctypes.c_void_p
    libc.setvbuf.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
    libc.setvbuf.restype = ctypes.c_int
    libc.fflush.argtypes = [ctypes.c_void_p]
    libc.fflush.restype = ctypes.c_int
    malloc_info = libc.malloc_info
    malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    malloc_info.restype = ctypes.c_int
    fflush = libc.fflush
    # struct mallinfo2 is returned in memory: on x86-64 the caller passes its address in %rdi (and gets
    # it back in %rax), exactly like a call f(buffer). Calling it that way creates no result object.
    mallinfo2 = None
    if platform.machine() == "x86_64" and hasattr(libc, "mallinfo2"):
        mallinfo2 = libc.mallinfo2
        mallinfo2.argtypes = [ctypes.c_void_p]
        mallinfo2.restype = None

    keep = build_pymalloc_heap()
    glibc_keep = build_glibc_heap(libc)

    block = threading.Lock()
    block.acquire()
    ready = [False, False]
    holder = [None, None]
    threads = [threading.Thread(target=worker, args=(k, ready, holder, block)) for k in range(2)]
    for t in threads:
        t.daemon = True
        t.start()
    deadline = time.time() + 30
    while not all(ready):
        if time.time() > deadline:
            sys.stderr.write("workers did not get ready\n")
            sys.exit(1)
        time.sleep(0.01)

    # Everything the snapshot uses, per round.
    has_stats = hasattr(sys, "_debugmallocstats")
    debugmallocstats = getattr(sys, "_debugmallocstats", None)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fps, fp_bufs, mi_bufs, mi_addrs, mi_fds, stats_fds, done_fds, done_paths = [], [], [], [], [], [], [], []
    for n in (0, 1):
        fd = os.open(os.path.join(out_dir, "glibc.%d.xml" % n), flags, 0o644)
        fp = libc.fdopen(fd, b"w")
        buf = ctypes.create_string_buffer(1 << 20)
        if not fp or libc.setvbuf(fp, buf, 0, len(buf)) != 0:  # _IOFBF with our buffer
            sys.stderr.write("fdopen/setvbuf failed\n")
            sys.exit(1)
        fps.append(fp)
        fp_bufs.append(buf)
        mi = (ctypes.c_size_t * 10)()
        mi_bufs.append(mi)
        mi_addrs.append(ctypes.addressof(mi))
        mi_fds.append(os.open(os.path.join(out_dir, "mallinfo2.%d.bin" % n), flags, 0o644))
        stats_fds.append(os.open(os.path.join(out_dir, "debugmallocstats.%d.txt" % n), flags, 0o644))
        done_paths.append(os.path.join(out_dir, "done.%d" % n))
        done_fds.append(os.open(done_paths[n], flags, 0o644))
    done_byte = b"x"
    os_write = os.write
    dup2 = os.dup2
    fork = os.fork
    sleep = time.sleep
    forever = 1000000.0
    settle = 0.3
    ptrs = [0] * 600

    write_json(os.path.join(out_dir, "meta.json"), {
        "pid": os.getpid(), "python": platform.python_version(), "version_info": list(sys.version_info[:3]),
        "debugmallocstats": has_stats, "mallinfo2": mallinfo2 is not None, "walker": reference_walker,
        "threads": threading.active_count(),
    })

    gc.collect()
    gc.disable()
    glibc_churn(libc, ptrs)

    n = 0
    while n < 2:
        if n == 1:
            sleep(settle)  # the workers are long blocked; nothing else runs
        malloc_info(0, fps[n])
        if mallinfo2 is not None:
            mallinfo2(mi_addrs[n])
        fflush(fps[n])
        os_write(mi_fds[n], mi_bufs[n])
        dup2(stats_fds[n], 2)
        if has_stats:
            debugmallocstats()
        if reference_walker:
            if fork() == 0:
                if n == 1:
                    walker_child(out_dir, done_paths[n])
                os._exit(0)
        os_write(done_fds[n], done_byte)
        n += 1
    while 1:
        sleep(forever)


if __name__ == "__main__":
    main()
