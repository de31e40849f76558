#!/usr/bin/python3.11
"""Rewrite an ELF core so that its PT_NOTE data comes right after the program headers.

    core_notes_first.py IN OUT [--keep-load-fraction F] [--order address|files-first]

gdb's gcore writes the NOTE segment (registers, thread list, mapped files) at the END of the file,
after all the LOAD data. Truncating such a core loses the notes first and gdb rejects the whole
file, so a truncated gcore core cannot test how a debugger copes with missing memory. Real kernel
cores put the notes first; this tool does the same: ELF header, program headers, every NOTE
segment, then every LOAD (and other) segment's data (in the original order unless --order says
otherwise), each segment's p_offset fixed up. Section headers (gcore writes some, pointing into the old layout) are dropped: cores are
read through their program headers.

With --keep-load-fraction F (0 < F < 1) the output is cut after that fraction of the segment data
that follows the notes, i.e. somewhere in the middle of the LOAD data: the notes stay complete and
the memory of the later mappings is missing, as in a core whose writing was interrupted.

--order chooses which memory comes last, i.e. is lost first when cut:
  address      (default) gcore's order, ascending addresses. The shared libraries' data (with the
               dynamic linker's list of them) is mapped high, so a cut loses it first.
  files-first  segments backed by a file (per the core's NT_FILE note: the executable's and the
               libraries' data) first, then anonymous memory from the smallest segment to the
               largest, so that a cut keeps what lets a debugger find the libraries, the heap and
               the small allocator arenas, and loses the largest mappings first: the threads'
               8 MiB stacks (which from CPython 3.11 hold each thread's innermost _PyCFrame).

Python 3 standard library only. Exits non-zero with a message on anything it does not understand.
"""
import argparse
import struct
import sys

PT_LOAD, PT_NOTE = 1, 4
NT_FILE = 0x46494C45
PN_XNUM = 0xFFFF
EHDR = struct.Struct("<16sHHIQQQIHHHHHH")  # Elf64_Ehdr, little-endian
PHDR = struct.Struct("<IIQQQQQQ")          # Elf64_Phdr
COPY_CHUNK = 1 << 20


def fail(msg):
    sys.stderr.write("core_notes_first: %s\n" % msg)
    sys.exit(1)


def copy_range(src, dst, offset, size):
    src.seek(offset)
    while size > 0:
        chunk = src.read(min(size, COPY_CHUNK))
        if not chunk:
            fail("input ends inside a segment (offset %d)" % src.tell())
        dst.write(chunk)
        size -= len(chunk)


def file_ranges(src, notes):
    """(start, end) of every file-backed mapping listed in the NT_FILE notes."""
    ranges = []
    for p in notes:
        src.seek(p[2])
        data = src.read(p[5])
        pos = 0
        while pos + 12 <= len(data):
            namesz, descsz, ntype = struct.unpack_from("<III", data, pos)
            desc = pos + 12 + ((namesz + 3) & ~3)
            if ntype == NT_FILE and desc + 16 <= len(data):
                count = struct.unpack_from("<Q", data, desc)[0]
                for i in range(count):
                    at = desc + 16 + 24 * i
                    if at + 24 > len(data):
                        break
                    start, end, _ = struct.unpack_from("<QQQ", data, at)
                    ranges.append((start, end))
            pos = desc + ((descsz + 3) & ~3)
    return ranges


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--keep-load-fraction", type=float, default=None)
    ap.add_argument("--order", choices=("address", "files-first"), default="address")
    args = ap.parse_args()
    frac = args.keep_load_fraction
    if frac is not None and not 0.0 < frac < 1.0:
        fail("--keep-load-fraction must be strictly between 0 and 1")

    with open(args.input, "rb") as src:
        raw = src.read(EHDR.size)
        if len(raw) < EHDR.size or raw[:4] != b"\x7fELF":
            fail("%s is not an ELF file" % args.input)
        ehdr = list(EHDR.unpack(raw))
        ident, e_type, _, _, _, e_phoff, _, _, e_ehsize, e_phentsize, e_phnum = ehdr[:11]
        if ident[4] != 2 or ident[5] != 1:
            fail("only 64-bit little-endian ELF is supported")
        if e_type != 4:
            fail("%s is not a core file (e_type %d)" % (args.input, e_type))
        if e_phnum == PN_XNUM:
            fail("extended program header numbering (PN_XNUM) is not supported")
        if e_phentsize != PHDR.size:
            fail("unexpected e_phentsize %d" % e_phentsize)
        src.seek(e_phoff)
        phdrs = [list(PHDR.unpack(src.read(PHDR.size))) for _ in range(e_phnum)]
        if not any(p[0] == PT_NOTE for p in phdrs):
            fail("no PT_NOTE segment")

        # New layout: headers, notes, then everything else (by default in its original file order).
        new_phoff = EHDR.size
        pos = new_phoff + e_phnum * PHDR.size
        notes = [p for p in phdrs if p[0] == PT_NOTE]
        others = sorted((p for p in phdrs if p[0] != PT_NOTE and p[5] > 0), key=lambda p: p[2])
        if args.order == "files-first":
            ranges = file_ranges(src, notes)
            if not ranges:
                fail("no NT_FILE note: cannot tell file-backed memory from anonymous memory")

            def backed(p):
                return any(start < p[3] + p[6] and p[3] < end for start, end in ranges)

            others = (sorted((p for p in others if backed(p)), key=lambda p: p[3]) +
                      sorted((p for p in others if not backed(p)), key=lambda p: (p[5], p[3])))
        plan = []  # (phdr, old_offset)
        for p in notes + others:
            plan.append((p, p[2]))
            p[2] = pos
            pos += p[5]  # p_filesz
        for p in phdrs:
            if p[0] != PT_NOTE and p[5] == 0:
                p[2] = 0
        notes_end = new_phoff + e_phnum * PHDR.size + sum(p[5] for p in notes)
        total = pos

        # Elf64_Ehdr: e_phoff, e_shoff, e_shentsize, e_shnum, e_shstrndx.
        ehdr[5] = new_phoff
        ehdr[6] = 0
        ehdr[11] = 0
        ehdr[12] = 0
        ehdr[13] = 0
        with open(args.output, "wb") as dst:
            dst.write(EHDR.pack(*ehdr))
            for p in phdrs:
                dst.write(PHDR.pack(*p))
            for p, old in plan:
                copy_range(src, dst, old, p[5])
            if frac is not None:
                keep = notes_end + int((total - notes_end) * frac)
                dst.truncate(keep)
                sys.stdout.write("kept %d of %d bytes (notes end at %d)\n" % (keep, total, notes_end))
    return 0


if __name__ == "__main__":
    sys.exit(main())
