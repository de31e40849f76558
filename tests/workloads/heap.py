# Integration-test workload for the heap commands (py-heap-summary, py-sizeof, py-biggest,
# py-referrers): builds known numbers of known objects, measures its own heap the way meliae/guppy
# would from the inside, writes that ground truth to OUT_PATH as JSON and blocks in a C call:
#
#   python heap.py OUT_PATH [LIFETIME_SECONDS]
#
# The in-process walk: every object gc.get_objects() returns and everything reachable from them
# through gc.get_referents(), plus dict keys and what code objects hold (their constants, names and
# line tables, which gc.get_referents does not show), each counted once with sys.getsizeof. The
# walk's own lists and sets are left out and freed before the report is written, and everything the
# report needs is computed before the file is written, so the heap pyxray sees is the one measured.
#
# Must run unchanged on Python 2.7 and 3.6+: no f-strings.
from __future__ import print_function

import gc
import json
import os
import signal
import sys
import threading
import types

PY2 = sys.version_info[0] == 2
if PY2:
    text_type = unicode  # noqa: F821
else:
    text_type = str

LEAKY_COUNT = 12345
SLOTTED_COUNT = 2345
WIDE_COUNT = 7
N_FLOATS = 100000
N_STRS = 100000
N_TUPLES = 100000
BIG_BYTES_LEN = 64 * 1024 * 1024
SKIP_DEEP = (type, types.ModuleType, types.FunctionType)


class Leaky(object):
    def __init__(self, i):
        self.index = i
        self.name = 'leaky'
        if i % 100 == 0:  # more attributes than a shared-keys instance dict holds
            for k in range(40):
                setattr(self, 'attr%d' % k, k)


class SlottedLeaky(object):
    __slots__ = ('a', 'b', 'c')

    def __init__(self, i):
        self.a = i
        self.b = None
        self.c = ()


WIDE_SLOTS = tuple('s%d' % i for i in range(120))
# An instance of more than 512 bytes: malloc'd, outside pymalloc's arenas, on the GC lists.
Wide = type('Wide', (object,), {'__slots__': WIDE_SLOTS})


class Point(object):
    def __init__(self, x, y):
        self.x = x
        self.y = y


class Box(object):
    __slots__ = ('vals',)


def build():
    g = globals()
    g['LEAKIES'] = [Leaky(i) for i in range(LEAKY_COUNT)]
    g['SLOTTED'] = [SlottedLeaky(i) for i in range(SLOTTED_COUNT)]
    if hasattr(gc, 'freeze'):  # 3.7+: these now sit in the permanent generation
        gc.collect()
        gc.freeze()
    wides = []
    for i in range(WIDE_COUNT):
        w = Wide()
        for name in WIDE_SLOTS:
            setattr(w, name, i)
        wides.append(w)
    g['WIDES'] = wides
    g['FLOATS'] = [float(i) + 0.5 for i in range(N_FLOATS)]
    g['STRS'] = ['str-%d' % i for i in range(N_STRS)]
    g['TUPLES'] = [(i, -i) for i in range(N_TUPLES)]
    g['BIG_BYTES'] = b'\0' * BIG_BYTES_LEN
    g['BIG_STR'] = 'x' * 100000
    g['BIG_LIST'] = list(range(200000))
    g['BIG_DICT'] = dict((i, str(i)) for i in range(50000))
    over = []
    for i in range(17):
        over.append(i)
    utf8 = text_type(b'\xc3\xa9t\xc3\xa9 cached'.decode('utf-8')) * 2
    try:
        compile(utf8, '<utf8>', 'eval')  # leaves the str's UTF-8 form cached in it (3.3+)
    except Exception:
        pass
    leaky_dict = LEAKIES[2].__dict__  # noqa: F821 -- materialises the instance dict (3.11+)
    g['NESTED'] = {
        'ints': [1, 2, 3, 10 ** 30],
        'floats': (1.5, 2.5),
        'text': ['abc', b'\xe2\x82\xac uro'.decode('utf-8'), 'x' * 1000],
        'bytes': b'payload',
        'set': set([1, 2, 3]),
        'frozen': frozenset(['a', 'b']),
        'point': Point(1.25, 'pt'),
        'slotted': SlottedLeaky(-1),
        'nested': {'deeper': [None, True, (None,)], 7: 'seven'},
        'ba': bytearray(b'abc'),
    }
    # Held only through a module global, a list and a dict: py-referrers must find that chain.
    g['HOLDER'] = [{'target': object()}]
    # The same through a slot and through an instance attribute: py-referrers labels those steps.
    g['BOXED'] = Box()
    BOXED.vals = [None, object()]  # noqa: F821
    g['ATTRED'] = Point(0, {'k': object()})
    g['SAMPLES'] = [
        ('int_big', 10 ** 100),
        ('float', FLOATS[0]),  # noqa: F821
        ('str_ascii', STRS[1]),  # noqa: F821
        ('str_latin1', b'caf\xc3\xa9 '.decode('utf-8') * 3),
        ('str_ucs2', b'\xe2\x82\xac'.decode('utf-8') * 5),
        ('str_utf8_cached', utf8),
        ('bytes', b'xyz' * 5),
        ('bytearray', bytearray(b'abc' * 10)),
        ('tuple', (1, 2, 3)),
        ('empty_list', []),
        ('list_over', over),
        ('dict_small', {'a': 1}),
        ('dict_int', {1: 2, 3: 4}),
        ('dict_big', BIG_DICT),  # noqa: F821
        ('set_small', set([1, 2])),
        ('set_big', set(range(100))),
        ('frozenset', frozenset(range(20))),
        ('leaky', LEAKIES[1]),  # noqa: F821
        ('leaky_many_attrs', LEAKIES[0]),  # noqa: F821
        ('leaky_dict', leaky_dict),
        ('slotted', SLOTTED[0]),  # noqa: F821
        ('wide', WIDES[0]),  # noqa: F821
        ('class', Leaky),
        ('builtin_type', int),
        ('big_bytes', BIG_BYTES),  # noqa: F821
        ('big_str', BIG_STR),  # noqa: F821
        ('big_list', BIG_LIST),  # noqa: F821
    ]


def qualified(t):
    name = getattr(t, '__qualname__', None) or t.__name__
    try:
        mod = t.__module__
    except Exception:
        mod = None
    if not isinstance(mod, str) or mod in ('builtins', '__builtin__'):
        return name
    return mod + '.' + name


CODE_ATTRS = ('co_consts', 'co_names', 'co_filename', 'co_name', 'co_qualname', 'co_exceptiontable')
CODE_ATTRS_OLD = ('co_varnames', 'co_freevars', 'co_cellvars', 'co_code', 'co_lnotab')


def code_refs(co):
    # What a code object holds (gc.get_referents shows nothing of it: code is not a GC type). From
    # 3.10 some of these attributes are computed on access (new objects): only stored ones are read.
    out = []
    names = CODE_ATTRS + (('co_linetable',) if sys.version_info >= (3, 10) else CODE_ATTRS_OLD)
    if sys.version_info >= (3, 11):
        names = CODE_ATTRS + ('co_linetable',)
    for n in names:
        v = getattr(co, n, None)
        if v is not None:
            out.append(v)
    return out


def heap_truth(exclude, samples_per_type=3):
    gc.collect()
    roots = gc.get_objects()
    stack = list(roots)
    seen = set()
    per_type = {}
    totals = [0, 0]
    skip = set()
    for x in (roots, stack, seen, per_type, totals, skip) + exclude:
        skip.add(id(x))
    code_type = types.CodeType
    while stack:
        o = stack.pop()
        i = id(o)
        if i in seen or i in skip:
            continue
        seen.add(i)
        size = sys.getsizeof(o)
        t = type(o)
        e = per_type.get(t)
        if e is None:
            e = per_type[t] = [0, 0, []]
        e[0] += 1
        e[1] += size
        if len(e[2]) < samples_per_type:
            e[2].append((i, size))
        totals[0] += 1
        totals[1] += size
        stack.extend(gc.get_referents(o))
        if isinstance(o, dict):
            stack.extend(o.keys())
        elif t is code_type:
            stack.extend(code_refs(o))
    out = {}
    sweep = []
    for t, (count, size, samples) in per_type.items():
        name = qualified(t)
        prev = out.get(name, (0, 0))
        out[name] = (prev[0] + count, prev[1] + size)
        for addr, s in samples:
            sweep.append({'type': name, 'address': addr, 'size': s})
    return totals[0], totals[1], out, sweep


def deep_truth(root):
    seen = set([id(root)])
    stack = [root]
    total = 0
    count = 0
    while stack:
        o = stack.pop()
        total += sys.getsizeof(o)
        count += 1
        refs = gc.get_referents(o)
        if isinstance(o, dict):
            refs = refs + list(o.keys())
        for r in refs:
            if id(r) in seen or isinstance(r, SKIP_DEEP):
                continue
            seen.add(id(r))
            stack.append(r)
    return total, count


def main():
    out_path = sys.argv[1]
    lifetime = int(sys.argv[2]) if len(sys.argv) > 2 else 600
    signal.alarm(lifetime)  # a safety net: the test kills the process group long before
    build()
    keep = [bytearray(b'held by a frame local')]  # py-referrers: thread N frame main: keep -> list -> ...
    nested_size, nested_count = deep_truth(NESTED)  # noqa: F821
    target = HOLDER[0]['target']  # noqa: F821
    doc = {
        'pid': os.getpid(),
        'python': sys.version.split()[0],
        'version_info': list(sys.version_info[:3]),
        'counts': {'__main__.Leaky': LEAKY_COUNT, '__main__.SlottedLeaky': SLOTTED_COUNT, '__main__.Wide': WIDE_COUNT},
        'big_bytes': {'address': id(BIG_BYTES), 'size': sys.getsizeof(BIG_BYTES),  # noqa: F821
                      'type': qualified(type(BIG_BYTES))},  # noqa: F821
        'samples': [{'label': label, 'address': id(o), 'type': qualified(type(o)), 'size': sys.getsizeof(o)}
                    for label, o in SAMPLES],  # noqa: F821
        'nested': {'address': id(NESTED), 'deep_size': nested_size, 'deep_objects': nested_count,  # noqa: F821
                   'size': sys.getsizeof(NESTED)},  # noqa: F821
        'target': {'address': id(target), 'chain': "__main__.HOLDER -> list [0] -> dict ['target'] -> object"},
        'local_target': {'address': id(keep[0]), 'chain_end': 'frame main: keep -> list [0] -> bytearray',
                         'holder': id(keep)},
        'slot_target': {'address': id(BOXED.vals[1]),  # noqa: F821
                        'chain': '__main__.BOXED -> __main__.Box .vals -> list [1] -> object'},
        # 3.11+ keep an instance's attributes as values beside its class's shared keys until its
        # __dict__ is asked for (nothing here asks), which is what the instance refers to; before,
        # the instance refers to its __dict__.
        'attr_target': {'address': id(ATTRED.y['k']),  # noqa: F821
                        'chain': "__main__.ATTRED -> __main__.Point .y -> dict ['k'] -> object"
                        if sys.version_info >= (3, 11) else
                        "__main__.ATTRED -> __main__.Point .__dict__ -> dict ['y'] -> dict ['k'] -> object"},
    }
    del target
    # The report itself is left out: it is freed before the process blocks. It is held as one str
    # while the heap is walked: its dicts and lists would be reached through gc.get_objects() (3.14
    # tracks every dict from birth) and counted, though they are gone when pyxray looks.
    report = json.dumps(doc)
    del doc
    objects, total, per_type, sweep = heap_truth((report,))
    doc = json.loads(report)
    del report
    # Cycles the measuring left behind (before 3.7 a handled exception can keep its frames, and with
    # them the walk's sets and lists): collected now, so that the heap is the one measured.
    gc.collect()
    doc['heap'] = {'objects': objects, 'bytes': total,
                   'types': dict((k, {'count': c, 'bytes': b}) for k, (c, b) in per_type.items())}
    doc['sweep'] = sweep
    del per_type, sweep
    tmp = out_path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(doc, f)
    os.rename(tmp, out_path)
    del doc
    # Block in C for good: nothing allocates from here on.
    lock = threading.Lock()
    lock.acquire()
    lock.acquire()
    return keep


if __name__ == '__main__':
    main()
