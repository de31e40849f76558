# -*- coding: utf-8 -*-
"""Generate ground-truth line-table cases for pyxray's line table decoders.

README
------
This script runs unchanged on Python 2.7 and 3.6-3.13. Each interpreter it
runs under compiles a varied set of sample functions, walks every code object
(recursively through co_consts), and writes, for each code object, its raw line
table, co_firstlineno and the source line the interpreter itself reports for
every instruction offset. Output: tests/data/line_tables/<major>.<minor>.json.

Regenerate all files (from the repository root):

    for v in 2.7.18 3.6.15 3.7.16 3.8.18 3.9.18 3.10.13 3.11.7 3.12.1 3.13.0; do
        /root/.pyenv/versions/$v/bin/python tools/gen_line_table_cases.py
    done

Options: --out-dir DIR writes elsewhere; --print-stats prints a summary only.

Where the expected lines come from:
  * <= 3.9: dis.findlinestarts() semantics (the line of the last line start at
    or before the offset);
  * >= 3.10: code.co_lines() (every instruction start in [start, end) has that
    line; None stays None); on >= 3.11 also checked against co_positions().
Every value is additionally cross-checked against the C function
PyCode_Addr2Line() called through ctypes, which is exactly what the
interpreter uses for tracebacks and frame.f_lineno; the script fails loudly on
any disagreement. Offsets outside the code (negative, past the end) are taken
from PyCode_Addr2Line alone and stored in "probes". From 3.10 on a negative
line is stored as null: it is how frame.f_lineno reports one (co_lines() agrees
on 3.10/3.11 only); only hand-made tables contain such lines.

Besides the compiled samples, each file holds "synthetic" code objects: a real
code object whose line table is replaced (code.replace / types.CodeType) by a
hand-built or seeded-random, well-formed table, to exercise encodings the
compiler rarely emits (3.10 "no line" runs, 3.11+ every entry kind and long
varints). On 3.11+ the samples are also compiled in a child interpreter started
with -X no_debug_ranges, whose tables use the column-less entry kind.

JSON layout (one code object per line, to keep diffs readable):
  {"version": "3.11.7", "format": "Locations311", "cases": [
    {"name": ..., "variant": "default" | "no_debug_ranges" | "synthetic",
     "first_line": int, "table": hex, "code_size": bytes, "step": 1 | 2,
     "lines": [line-or-null for offsets 0, step, 2*step, ... < code_size],
     "probes": [[offset, line-or-null], ...]}, ...]}
"""
from __future__ import print_function

import binascii
import ctypes
import dis
import json
import os
import random
import subprocess
import sys
import types

PY = sys.version_info[:2]
CHILD_FLAG = "--child-no-debug-ranges"


def table_format():
    if PY < (3, 6):
        return "Lnotab27"
    if PY < (3, 10):
        return "Lnotab36"
    if PY < (3, 11):
        return "Linetable310"
    return "Locations311"


# ---------------------------------------------------------------------------
# Sample sources. COMMON is valid on every version; the gated ones need newer
# syntax. Names are only compiled, never run, so they need not resolve.
# ---------------------------------------------------------------------------

def comment_block(n, indent):
    return "".join("%s# filler %d\n" % (indent, i) for i in range(n))


def long_gaps_source():
    # Line jumps of >255 and >2047 lines: several lnotab/linetable pairs per
    # jump, and 2- and 3-chunk varints in the 3.11+ table.
    return (
        "def long_gaps(x):\n"
        "    y = x + 1\n" + comment_block(300, "    ") +
        "    y = y * 2\n" + comment_block(5000, "    ") +
        "    if y:\n"
        "        return y\n"
        "    return -y\n")


def long_loop_source():
    # Loops whose back edge returns to a header hundreds of lines earlier:
    # large negative line deltas.
    return (
        "def long_loop(n):\n"
        "    total = 0\n"
        "    while n > 0:\n"
        "        total += n\n" + comment_block(400, "        ") +
        "        n -= 1\n"
        "    for i in range(3):\n"
        "        total += i\n" + comment_block(3000, "        ") +
        "        total -= 1\n"
        "    return total\n")


def big_line_source():
    # One line with far more than 255 bytes of bytecode, then a dict spread
    # over 60 lines, then a line wider than 255 columns.
    names = ", ".join("a%d" % (i % 7) for i in range(300))
    wide_args = ", ".join("argument_%d" % i for i in range(40))
    dict_lines = "".join("        k%d: v%d,\n" % (i, i) for i in range(60))
    return (
        "def big_line(a0, a1, a2, a3, a4, a5, a6):\n"
        "    xs = [" + names + "]\n"
        "    d = {\n" + dict_lines + "    }\n"
        "    w = " + " " * 200 + "function_name(" + wide_args + ")\n"
        "    return xs, d, w\n")


def wide_source():
    # Expressions starting beyond column 255 and multi-line ones starting
    # beyond column 80: the long location form.
    pad = " " * 260
    return (
        "def wide(a, b):\n"
        "    r = (" + pad + "a.attr + b.attr)\n"
        "    s = (" + " " * 90 + "a(b,\n"
        "        b) +\n"
        "         a)\n"
        "    return r, s\n")


COMMON = r'''
def simple(a, b):
    c = a + b
    return c * 2


def control(xs):
    out = []
    for x in xs:
        if x is None:
            continue
        elif x < 0:
            break
        try:
            out.append(1 // x)
        except ZeroDivisionError as e:
            out.append(e)
        except (TypeError, ValueError):
            pass
        else:
            out.append(0)
        finally:
            out.append(None)
    else:
        out.append('done')
    while out and out[-1] is None:
        out.pop()
    with open(__file__) as fh, open(__file__) as gh:
        out.append(fh.read(1))
    try:
        raise ValueError(
            'multi'
            'line')
    except ValueError:
        raise
    finally:
        out = None
    return out


def deco(arg):
    def wrap(fn):
        return fn
    return wrap


@deco(
    1)
@deco(2)
def decorated(xs):
    a = [x * 2 for x in xs if x]
    b = {x: y for x, y in zip(xs,
                               xs)}
    c = set(x for x in xs)
    d = {x for x in xs}
    e = [[y for y in range(x)]
         for x in xs]
    key = lambda v: (v,
                     -v)
    return sorted(a, key=key), b, c, d, e


def gen(n):
    i = 0
    while i < n:
        received = yield i
        if received:
            i = received
        i += 1


def multi(a, b, c):
    x = (a +
         b *
         c)
    y = foo(a,
            bar(b,
                c),
            baz=a)
    z = (a
         if b else
         c)
    w = a.b(
    ).c(
    ).d()
    a[
        b
    ] = c
    v = \
        a + \
        b
    if (a and
            b or
            c):
        pass
    return [
        x,
        y, z, w, v,
    ]


class Klass(object):
    attr = 1

    def method(self):
        def inner():
            def innermost():
                return self
            return innermost
        return inner

    @property
    def prop(self):
        return self.attr

    @staticmethod
    def sm(): pass


def early_return(x):
    if x:
        return 1
    else:
        return 2
    x = 3
    return x


def nested_loops(m):
    r = 0
    for i in m:
        for j in i:
            while j:
                j -= 1
                if j == 3:
                    break
            else:
                continue
            r += j
    return r
'''

PY3_ONLY = r'''
def py3(a, *, b=1, **kw):
    def inner():
        nonlocal a
        a += 1
        return a
    yield from inner()
    x: int = 1
    return a, b


async def coro(s):
    async with s as t:
        async for u in t:
            await u
    return [v async for v in s]


def fstrings(a, b):
    return (f"{a!r:>{b}}"
            f"{a + b}")
'''

PY38_ONLY = r'''
def walrus(xs, /, y):
    if (n := len(xs)) > 3:
        return [z for x in xs if (z := x * y)]
    return n
'''

PY310_ONLY = r'''
def matcher(cmd):
    match cmd:
        case ["go", direction] if direction:
            return direction
        case {"x": x,
              "y": y}:
            return x + y
        case Point(x=0, y=0) | None:
            return 0
        case _:
            pass
    return None
'''

PY311_ONLY = r'''
def groups():
    try:
        raise ExceptionGroup("eg", [ValueError(1), TypeError(2)])
    except* ValueError as e:
        r = e
    except* TypeError:
        r = None
    return r
'''

PY312_ONLY = r'''
type Alias[T] = list[T]

def generic[T: int](x: T) -> T:
    class Inner[U]:
        def m(self, u: U) -> U:
            return u
    return x
'''


def sample_sources():
    """(name, source) pairs valid for the running interpreter."""
    out = [
        ("common", COMMON),
        ("long_gaps", long_gaps_source()),
        ("long_loop", long_loop_source()),
        ("big_line", big_line_source()),
        ("wide", wide_source()),
        # A module that starts deep in a file: large co_firstlineno values.
        ("offset_module", "\n" * 70000 + "def far(a):\n    return a\n"),
    ]
    if PY >= (3, 6):
        out.append(("py3", PY3_ONLY))
    if PY >= (3, 8):
        out.append(("py38", PY38_ONLY))
    if PY >= (3, 10):
        out.append(("py310", PY310_ONLY))
    if PY >= (3, 11):
        out.append(("py311", PY311_ONLY))
    if PY >= (3, 12):
        out.append(("py312", PY312_ONLY))
    return out


def walk_code(co, path):
    """Yield (path, code) for co and every code object nested in it."""
    name = getattr(co, "co_qualname", co.co_name)
    here = path + "/" + name if path else name
    yield here, co
    for const in co.co_consts:
        if isinstance(const, types.CodeType):
            for item in walk_code(const, here):
                yield item


# ---------------------------------------------------------------------------
# Ground truth
# ---------------------------------------------------------------------------

_addr2line = ctypes.pythonapi.PyCode_Addr2Line
_addr2line.argtypes = [ctypes.py_object, ctypes.c_int]
_addr2line.restype = ctypes.c_int


def reported(line):
    """Since 3.10 a negative line means "no line": frame.f_lineno is None for
    it on 3.10-3.13, and so is co_lines() on 3.10/3.11 (3.12+ co_lines() and
    3.11+ co_positions() only map -1 to None; other negative lines can only
    come from hand-made tables)."""
    if PY >= (3, 10) and line is not None and line < 0:
        return None
    return line


def c_addr2line(co, offset):
    return reported(_addr2line(co, offset))


def raw_table(co):
    if PY >= (3, 10):
        return bytearray(co.co_linetable)
    return bytearray(co.co_lnotab)


def step():
    # 2.7 instructions are 1 or 3 bytes; from 3.6 on, 2-byte code units.
    return 1 if PY < (3, 6) else 2


def lines_from_linestarts(co, size):
    starts = list(dis.findlinestarts(co))
    lines = []
    for off in range(0, size, step()):
        line = co.co_firstlineno
        for start, start_line in starts:
            if start <= off:
                line = start_line
        lines.append(line)
    return lines


def lines_from_co_lines(co, size):
    by_offset = {}
    for start, end, line in co.co_lines():
        # Hand-made tables may have odd range bounds; instructions are even.
        for off in range(start + start % 2, end, 2):
            by_offset[off] = reported(line)
    return [by_offset.get(off) for off in range(0, size, 2)]


def check_positions(co, lines, label):
    positions = list(co.co_positions())
    for i, line in enumerate(lines):
        if i < len(positions) and reported(positions[i][0]) != line:
            raise SystemExit("%s: co_positions()[%d] line %r != co_lines() %r"
                             % (label, i, positions[i][0], line))


def expected_lines(co, size, label):
    if PY >= (3, 10):
        lines = lines_from_co_lines(co, size)
        if PY >= (3, 11):
            check_positions(co, lines, label)
    else:
        lines = lines_from_linestarts(co, size)
    for i, line in enumerate(lines):
        c_line = c_addr2line(co, i * step())
        if c_line != line:
            raise SystemExit("%s: offset %d: PyCode_Addr2Line %r != python-level %r"
                             % (label, i * step(), c_line, line))
    return lines


def probes(co, size):
    """Offsets outside [0, size): CPython's answer straight from C."""
    offsets = [-1000, -2, -1, size, size + 1, size + 2, size + 100, 1 << 24]
    return [[off, c_addr2line(co, off)] for off in offsets]


def make_case(label, variant, co, size=None):
    if size is None:
        size = len(co.co_code)
    return {
        "name": label,
        "variant": variant,
        "first_line": co.co_firstlineno,
        "table": binascii.hexlify(bytes(raw_table(co))).decode("ascii"),
        "code_size": size,
        "step": step(),
        "lines": expected_lines(co, size, label),
        "probes": probes(co, size),
    }


def compiled_cases(variant):
    cases = []
    for sample, source in sample_sources():
        if variant == "no_debug_ranges" and sample == "big_line":
            continue  # the biggest sample; its default variant covers the same ground
        module = compile(source, "<%s>" % sample, "exec")
        for path, co in walk_code(module, sample):
            cases.append(make_case(path, variant, co))
    return cases


# ---------------------------------------------------------------------------
# Synthetic tables (well formed, decoded by the interpreter itself)
# ---------------------------------------------------------------------------

def with_table(co, table, first_line):
    table = bytes(bytearray(table))
    if PY >= (3, 10):
        return co.replace(co_linetable=table, co_firstlineno=first_line)
    if PY >= (3, 8):
        return co.replace(co_lnotab=table, co_firstlineno=first_line)
    head = [co.co_argcount]
    if PY >= (3, 0):
        head.append(co.co_kwonlyargcount)
    return types.CodeType(*(head + [
        co.co_nlocals, co.co_stacksize, co.co_flags, co.co_code,
        co.co_consts, co.co_names, co.co_varnames, co.co_filename,
        co.co_name, first_line, table, co.co_freevars, co.co_cellvars]))


def uvarint(value):
    out = []
    while value >= 64:
        out.append(64 | (value & 63))
        value >>= 6
    out.append(value)
    return out


def svarint(value):
    return uvarint(((-value) << 1) | 1 if value < 0 else value << 1)


def loc_entry(kind, units, line_delta=0, rng=None):
    """One 3.11+ location entry of `kind` covering `units` code units."""
    rng = rng or random.Random(0)
    head = [0x80 | (kind << 3) | (units - 1)]
    if kind <= 9:  # short form: same line, one column byte
        return head + [rng.randint(0, 127)]
    if kind <= 12:  # one-line form: line delta is kind - 10
        # Columns are "unsigned bytes" but the compiler only uses this form for
        # columns < 128: a byte with bit 7 set would read as the next entry.
        return head + [rng.randint(0, 127), rng.randint(0, 127)]
    if kind == 13:  # no columns
        return head + svarint(line_delta)
    if kind == 14:  # long form: line, end-line delta, columns + 1
        return (head + svarint(line_delta) + uvarint(rng.randint(0, 3)) +
                uvarint(rng.randint(0, 300)) + uvarint(rng.randint(0, 300)))
    return head  # 15: no location


def fixed_locations_table():
    t = []
    for kind in range(16):
        t += loc_entry(kind, 1 + kind % 8, 3)
    # Varints of 1..6 chunks, positive and negative, and a no-line gap that
    # must not disturb the running line.
    for delta in (31, -32, 2047, -2048, 131071, -131072, 1 << 24, -(1 << 24),
                  1 << 30, -(1 << 30), 7):
        t += loc_entry(13, 2, delta)
        t += loc_entry(15, 3)
        t += loc_entry(14, 8, -delta // 2)
        t += loc_entry(11, 1)
    return t


def random_locations_table(rng, entries):
    t = []
    for _ in range(entries):
        kind = rng.choice([0, 3, 9, 10, 11, 12, 13, 13, 14, 14, 15])
        delta = rng.choice([0, 1, -1, 5, -7, 40, -40, 300, -300, 5000])
        t += loc_entry(kind, rng.randint(1, 8), delta, rng)
    return t


def fixed_310_table():
    # Zero-length entries carrying big line jumps, "no line" runs longer than
    # 254 bytes, and a negative jump below -127.
    return ([0, 127, 0, 127, 10, 5, 254, -128 & 255, 254, -128 & 255, 4, -128 & 255,
             6, 0, 0, -127 & 255, 0, -127 & 255, 8, -3 & 255, 254, 0, 2, 1] +
            [2, 1] * 5 + [0, 100, 0, -128 & 255, 12, 7])


def random_310_table(rng, pairs):
    t = []
    for _ in range(pairs):
        ldelta = rng.choice([0, 1, 2, 5, -3, 127, -127, -128, rng.randint(-128, 127)])
        t += [rng.choice([0, 2, 4, 6, 254, rng.randint(0, 255)]), ldelta & 255]
    t[-2] = t[-2] or 2  # CPython requires the table not to end on an empty range
    return t


def random_lnotab(rng, pairs):
    t = []
    for _ in range(pairs):
        t += [rng.choice([0, 1, 2, 3, 4, 6, 255, rng.randint(0, 40)]), rng.randint(0, 255)]
    return t


def covered_size(table):
    """Bytes of code the table describes (enough offsets to cover it all)."""
    fmt = table_format()
    if fmt == "Locations311":
        return sum(((b & 7) + 1) * 2 for b in table if b & 0x80)
    return sum(table[0::2])


def synthetic_tables():
    rng = random.Random(20240601)
    fmt = table_format()
    tables = [("empty", [])]
    if fmt == "Locations311":
        tables.append(("every_kind", fixed_locations_table()))
        tables += [("random%d" % i, random_locations_table(rng, 30)) for i in range(12)]
    elif fmt == "Linetable310":
        tables.append(("runs", fixed_310_table()))
        tables += [("random%d" % i, random_310_table(rng, 16)) for i in range(10)]
    else:
        tables.append(("odd_length", [4, 1, 255, 0, 3]))
        tables += [("random%d" % i, random_lnotab(rng, 16)) for i in range(10)]
    return tables


def synthetic_cases():
    # The carrier's bytecode must be longer than any table's reach: 3.8+
    # dis.findlinestarts() stops at the end of co_code.
    source = "def carrier():\n" + "    a = b\n" * 3000
    carrier = compile(source, "<carrier>", "exec").co_consts[0]
    cases = []
    for i, (name, table) in enumerate(synthetic_tables()):
        first_line = [1000, 100000, 0, 7][i % 4]
        co = with_table(carrier, table, first_line)
        size = covered_size(bytearray(table)) + 16
        size += size % 2
        cases.append(make_case("synthetic/" + name, "synthetic", co, size))
    return cases


# ---------------------------------------------------------------------------

def no_debug_range_cases():
    """3.11+: the same samples compiled without column information."""
    if PY < (3, 11):
        return []
    out = subprocess.check_output(
        [sys.executable, "-X", "no_debug_ranges", os.path.abspath(__file__), CHILD_FLAG])
    return json.loads(out.decode("ascii"))


def write_file(path, cases):
    lines = ['{"version": "%d.%d.%d", "format": "%s", "cases": ['
             % (sys.version_info[0], sys.version_info[1], sys.version_info[2], table_format())]
    body = [json.dumps(c, sort_keys=True, separators=(",", ":")) for c in cases]
    lines.append(",\n".join(body))
    lines.append("]}\n")
    with open(path, "w") as fh:
        fh.write("\n".join(lines))


def main(argv):
    if CHILD_FLAG in argv:
        sys.stdout.write(json.dumps(compiled_cases("no_debug_ranges")))
        return 0
    cases = compiled_cases("default") + no_debug_range_cases() + synthetic_cases()
    if "--print-stats" in argv:
        offsets = sum(len(c["lines"]) for c in cases)
        print("%d.%d: %d code objects, %d offsets" % (PY[0], PY[1], len(cases), offsets))
        return 0
    out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "..", "tests", "data", "line_tables")
    if "--out-dir" in argv:
        out_dir = argv[argv.index("--out-dir") + 1]
    if not os.path.isdir(out_dir):
        os.makedirs(out_dir)
    path = os.path.join(out_dir, "%d.%d.json" % PY)
    write_file(path, cases)
    print("wrote %s (%d code objects)" % (os.path.normpath(path), len(cases)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
