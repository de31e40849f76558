#!/usr/bin/python3
# Fingerprints the memory of a (stopped) process from outside, for the read-only test:
#
#   memory_snapshot.py PID OUT_JSON
#
# Reads /proc/PID/maps and, for every readable mapping (except the kernel's [vvar], [vvar_vclock]
# and [vsyscall], which change by themselves or cannot be read), the mapping's bytes from
# /proc/PID/mem, and writes one BLAKE2b digest per 4 KiB page:
#
#   {"pid": PID, "regions": [{"start": 94.., "end": 94.., "perms": "rw-p", "path": "[heap]",
#                             "pages": ["9f1c..", ...], "unreadable": [page index, ...]}, ...]}
#
# Stdlib only (run by Debian's /usr/bin/python3.11): the test compares two snapshots taken while gdb
# holds the process, so any byte a command wrote shows up as a page whose digest changed.
import hashlib
import json
import sys

PAGE = 4096
SKIP = ("[vvar]", "[vvar_vclock]", "[vsyscall]")


def regions(pid):
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            parts = line.split(None, 5)
            start, end = (int(x, 16) for x in parts[0].split("-"))
            perms = parts[1]
            path = parts[5].strip() if len(parts) > 5 else ""
            yield start, end, perms, path


def main():
    pid = int(sys.argv[1])
    out = {"pid": pid, "regions": []}
    with open("/proc/%d/mem" % pid, "rb", buffering=0) as mem:
        for start, end, perms, path in regions(pid):
            if perms[0] != "r" or path in SKIP:
                continue
            pages, unreadable = [], []
            for i, addr in enumerate(range(start, end, PAGE)):
                try:
                    mem.seek(addr)
                    data = mem.read(PAGE)
                except OSError:
                    data = None
                if data is None or len(data) != PAGE:
                    unreadable.append(i)
                    pages.append("")
                else:
                    pages.append(hashlib.blake2b(data, digest_size=12).hexdigest())
            out["regions"].append({"start": start, "end": end, "perms": perms, "path": path,
                                   "pages": pages, "unreadable": unreadable})
    with open(sys.argv[2], "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
