# Integration-test workload for py-print: builds objects of every type pyxray's repr knows (with the
# edge cases: empty, one-element tuples, cycles, huge ints, awkward floats and strings, nesting past
# the depth limit, containers past the item limit, subclasses, instances), then writes the ground
# truth to OUT_PATH as JSON and blocks until killed:
#
#   python objects.py OUT_PATH [LIFETIME_SECONDS]
#
# For every object: its address (id), repr(obj) as this interpreter prints it, and "expected": what
# pyxray must print, which is repr(obj) itself unless pyxray's limits cut it (then the same bounded
# rules applied here, in Python, to the real object) or the object is an instance of a class (then
# its attributes, <module.Class(a=1, b=[2]) at 0x...>, as pyxray shows them instead of object.__repr__
# or a __repr__ it cannot run; object.__repr__ for an instance without attributes).
#
# Must run unchanged on Python 2.7 and 3.6+: no f-strings, and every literal that needs a newer
# version is built at run time.
from __future__ import print_function

import json
import os
import signal
import sys
import threading
import types

PY2 = sys.version_info[0] == 2
if PY2:
    text_type = unicode  # noqa: F821
    int_types = (int, long)  # noqa: F821
    unichr_ = unichr  # noqa: F821
else:
    text_type = str
    int_types = (int,)
    unichr_ = chr

# pyxray's ReprLimits defaults.
MAX_DEPTH = 3
MAX_ITEMS = 32
MAX_STRING = 200

HEAPTYPE = 1 << 9
OBJECTS = []      # (label, object); kept alive for as long as the process lives
# id(instance) -> its attribute names in the order they were set: read back with getattr, never
# through __dict__, which 3.11+ would make then (until asked for, they keep values without a dict).
ATTR_NAMES = {}
FOREVER = threading.Event()


def add(label, obj):
    OBJECTS.append((label, obj))
    return obj


def with_attrs(obj, pairs):
    for name, value in pairs:
        setattr(obj, name, value)
    ATTR_NAMES[id(obj)] = [name for name, _ in pairs]
    return obj


# --- the bounded repr pyxray promises, computed from the real object ---

def repr_owner(obj):
    """The class whose __repr__ repr(obj) calls (first in the MRO defining one)."""
    if PY2 and isinstance(obj, types.InstanceType):
        return None
    for klass in type(obj).__mro__:
        if '__repr__' in klass.__dict__:
            return klass
    return object


def address(obj):
    return '0x%x' % id(obj)


def object_repr(obj):
    # object.__repr__ of a new-style instance; the 2.7 old-style instance default otherwise.
    if PY2 and isinstance(obj, types.InstanceType):
        cls = obj.__class__
        return '<%s.%s instance at %s>' % (cls.__dict__.get('__module__', '?'), cls.__name__, address(obj))
    return object.__repr__(obj)


def cut_text(obj, base):
    if len(obj) <= MAX_STRING:
        return base.__repr__(obj)
    return base.__repr__(base(obj[:MAX_STRING])) + '...'


def instance_attrs(obj):
    if id(obj) in ATTR_NAMES and not PY2:  # 2.7's dicts list in hash order: vars(obj)'s is that
        return [(name, getattr(obj, name)) for name in ATTR_NAMES[id(obj)]]
    attrs = getattr(obj, '__dict__', None)
    return list(attrs.items()) if isinstance(attrs, dict) else []


def instance_repr(obj, depth, active):
    """An instance of a class: <module.Qualname(attr=value, ...) at 0x...>, each value one level
    deeper; (...) for a cycle or past the depth limit; object.__repr__ without attributes."""
    attrs = instance_attrs(obj)
    if not attrs:
        return object_repr(obj)
    name = object_repr(obj)[1:].rsplit(' object at ', 1)[0]
    if id(obj) in active or depth >= MAX_DEPTH:
        return '<%s(...) at %s>' % (name, address(obj))
    active = active + (id(obj),)
    parts = ['%s=%s' % (k, bounded(v, depth + 1, active)) for k, v in attrs[:MAX_ITEMS]]
    if len(attrs) > MAX_ITEMS:
        parts.append('...')
    return '<%s(%s) at %s>' % (name, ', '.join(parts), address(obj))


def bounded(obj, depth=0, active=()):
    if depth > MAX_DEPTH:
        return '...'
    owner = repr_owner(obj)
    if owner is None:
        return object_repr(obj)  # a 2.7 old-style instance
    if type(obj).__flags__ & HEAPTYPE and (owner is object or owner.__flags__ & HEAPTYPE):
        return instance_repr(obj, depth, active)  # object.__repr__ or a Python __repr__ pyxray cannot run
    if owner.__flags__ & HEAPTYPE:
        return object_repr(obj)
    if owner in (list, tuple, dict, set, frozenset):
        return bounded_container(obj, owner, depth, active)
    if owner in (str, bytes, text_type):
        return cut_text(obj, owner)
    if owner is bytearray:
        if len(obj) <= MAX_STRING:
            return repr(obj)
        return bytearray.__repr__(bytearray(obj[:MAX_STRING]))[:-1] + '...)'
    return repr(obj)


def bounded_container(obj, owner, depth, active):
    name = type(obj).__name__
    markers = {list: '[...]', tuple: '(...)', dict: '{...}'}
    if id(obj) in active or depth >= MAX_DEPTH:
        return markers.get(owner, name + '(...)')
    active = active + (id(obj),)
    if owner is dict:
        pairs = list(dict.items(obj))
        parts = [bounded(k, depth + 1, active) + ': ' + bounded(v, depth + 1, active) for k, v in pairs[:MAX_ITEMS]]
        items = len(pairs)
    else:
        elems = list(owner.__iter__(obj))
        parts = [bounded(x, depth + 1, active) for x in elems[:MAX_ITEMS]]
        items = len(elems)
    if items > MAX_ITEMS:
        parts.append('...')
    body = ', '.join(parts)
    if owner is list:
        return '[' + body + ']'
    if owner is tuple:
        return '(' + body + (',' if items == 1 else '') + ')'
    if owner is dict:
        return '{' + body + '}'
    if PY2:
        return '%s([%s])' % (name, body)
    if items == 0:
        return name + '()'
    if type(obj) is set:
        return '{' + body + '}'
    return '%s({%s})' % (name, body)


# --- the objects ---

class New(object):
    def method(self):
        return self

    class Inner(object):
        pass


class Old:  # an old-style class on 2.7, a new-style one on 3.x
    pass


class WithRepr(object):
    def __repr__(self):
        return 'WithRepr()'


class Slots(object):
    __slots__ = ('a', 'b')


class Meta(type):
    pass


WithMeta = Meta('WithMeta', (object,), {})


class MyInt(int):
    pass


class MyFloat(float):
    pass


class MyStr(str):
    pass


class MyList(list):
    pass


class MyTuple(tuple):
    pass


class MyDict(dict):
    pass


class MySet(set):
    pass


class MyFrozen(frozenset):
    pass


class ReprDict(dict):
    def __repr__(self):
        return 'ReprDict()'


def top_level_function():
    pass


def make_closure():
    def inner():
        return inner
    return inner


def u(codepoints):
    """A text string from code points (2.7 narrow builds get surrogate pairs)."""
    out = []
    for cp in codepoints:
        if cp > 0xffff and PY2 and sys.maxunicode == 0xffff:
            cp -= 0x10000
            out.append(unichr_(0xd800 + (cp >> 10)))
            out.append(unichr_(0xdc00 + (cp & 0x3ff)))
        else:
            out.append(unichr_(cp))
    return text_type('').join(out)


def floats():
    values = [0.0, -0.0, 1.0, -1.0, 0.1, 0.5, 2.5, 1.0 / 3, 1234.5, 1e15, 1e16, 1e17, 123456789012345678.0,
              9007199254740993.0, 1e-4, 1e-5, 1e-7, 1.5e-10, 5e-324, 2.2250738585072014e-308,
              1.7976931348623157e308, 1e22, 1e23, float('inf'), float('-inf'), float('nan'), 100.0, 1e100]
    # A deterministic spread of bit patterns (finite ones), for the shortest round-trip digits.
    import struct
    state = 0x2545F4914F6CDD1D
    while len(values) < 120:
        state = (state * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
        value = struct.unpack('<d', struct.pack('<Q', state))[0]
        if value == value and abs(value) != float('inf'):
            values.append(value)
    return values


def build():
    add('none', None)
    add('true', True)
    add('false', False)
    add('ellipsis', Ellipsis)
    add('not_implemented', NotImplemented)

    for i, v in enumerate([0, 1, -1, 7, 255, 2 ** 30 - 1, 2 ** 30, 2 ** 31, 2 ** 62, 2 ** 63 - 1, 2 ** 63, 2 ** 64,
                           -(2 ** 64), 10 ** 18, 10 ** 19, 10 ** 50, -(10 ** 50), 2 ** 200, -(2 ** 200), 3 ** 500]):
        add('int_%d' % i, v)
    if PY2:
        add('long_small', long(5))  # noqa: F821
        add('long_zero', long(0))  # noqa: F821
        add('long_negative', -long(2) ** 70)  # noqa: F821
    add('int_subclass', MyInt(42))

    for i, v in enumerate(floats()):
        add('float_%d' % i, v)
    add('float_subclass', MyFloat(2.5))

    texts = [
        [], [0x61], list(b'hello world' if not PY2 else map(ord, 'hello world')),
        [ord(c) for c in "it's"], [ord(c) for c in 'say "hi"'], [ord(c) for c in 'both \' and "'],
        [0x5c, 0x6e, 0x5c], [0x0a, 0x09, 0x0d, 0x00, 0x1f, 0x7f, 0x20, 0x7e],
        [0x63, 0x61, 0x66, 0xe9, 0x80, 0x9f, 0xa0, 0xa1, 0xad, 0xff],                 # latin-1
        [0x20ac, 0x2028, 0x200b, 0xfeff, 0xffff, 0x4e2d, 0x6587, 0x0394, 0x0416],     # UCS-2
        [0x1f600, 0x10ffff, 0xe0001, 0x1d11e, 0x61],                                 # UCS-4
        [0x1f97a],           # printable from Unicode 11 (3.7) on: 3.6 escapes it
        [0x27, 0x22, 0xe9, 0x1f600],
        [0x61] * MAX_STRING,                                                         # exactly the limit
        [0x61] * (MAX_STRING + 1),
        [0x62] * 500,
        [0x4e2d] * 300,
        [0x1f600] * 250,
    ]
    if not PY2:
        texts.append([0xd800, 0x61, 0xdfff])  # lone surrogates
    for i, cps in enumerate(texts):
        add('text_%d' % i, u(cps))
    add('str_subclass', MyStr('sub'))

    raw = [b'', b'abc', b"'", b'"', b'\'"', b'\x00\xff\\\n\t\r\x7f\x80', bytes(bytearray(range(256))),
           b'\x80' * 300]
    for i, v in enumerate(raw):
        add('bytes_%d' % i, v)
    add('bytearray_empty', bytearray())
    add('bytearray', bytearray(b"xy\x00'z"))
    add('bytearray_long', bytearray(b'q' * 250))

    add('tuple_empty', ())
    add('tuple_one', (1,))
    add('tuple_two', (1, 'two'))
    add('tuple_nested', ((1,), (2, (3,))))
    add('list_empty', [])
    add('list_one', [1])
    add('list_mixed', [1, 2.5, 'three', None, True, (4,), [5], {6: 7}])
    add('list_long', list(range(40)))
    add('list_exact', list(range(MAX_ITEMS)))
    add('list_deep', [[[[[[1]]]]]])
    add('list_long_strings', ['s%03d' % i * 30 for i in range(35)])
    cycle = [1]
    cycle.append(cycle)
    add('list_cycle', cycle)
    a, b = [1], [2]
    a.append(b)
    b.append(a)
    add('list_mutual_cycle', a)

    add('dict_empty', {})
    add('dict_one', {'a': 1})
    add('dict_mixed', {1: 'x', (1, 2): [3], 'k': {'n': None}, 2.5: b'b'})
    add('dict_long', dict(('k%02d' % i, i) for i in range(40)))
    deleted = dict(('k%d' % i, i) for i in range(10))
    for i in (2, 5, 7):
        del deleted['k%d' % i]
    add('dict_deleted', deleted)
    self_ref = {}
    self_ref['self'] = self_ref
    add('dict_cycle', self_ref)
    add('dict_deep', {'a': {'b': {'c': {'d': {'e': 1}}}}})

    add('set_empty', set())
    add('set_one', set([1]))
    add('set_small', set([1, 2, 3]))
    add('set_strings', set(['x', 'y']))
    add('set_long', set(range(50)))
    holes = set(range(20))
    for i in range(0, 20, 3):
        holes.discard(i)
    add('set_dummies', holes)
    add('frozenset_empty', frozenset())
    add('frozenset_one', frozenset([1]))
    add('frozenset_tuples', frozenset([(1, 2), (3,)]))

    add('subclass_dict', MyDict(a=1))
    add('subclass_list', MyList([1, 2]))
    add('subclass_tuple', MyTuple((1,)))
    add('subclass_set', MySet([1]))
    add('subclass_set_empty', MySet())
    add('subclass_frozenset', MyFrozen([2]))
    add('subclass_dict_with_repr', ReprDict(a=1))

    for name, t in [('int', int), ('str', str), ('dict', dict), ('type', type), ('object', object), ('new', New),
                    ('inner', New.Inner), ('meta', WithMeta), ('metaclass', Meta), ('subclass', MyDict),
                    ('old', Old), ('function', types.FunctionType)]:
        add('type_' + name, t)

    add('instance_new', New())
    split = with_attrs(New(), [('x', 1), ('y', 2)])
    add('instance_split', split)
    reordered = with_attrs(New(), [('y', 2), ('x', 1)])
    add('instance_old', Old())
    add('instance_with_repr', WithRepr())
    slots = Slots()
    slots.a = 1
    add('instance_slots', slots)
    add('instance_meta', WithMeta())
    # Attributes (3.11+: values beside the class's keys, no __dict__ made; before: the __dict__).
    add('instance_values', with_attrs(New(), [('a', 1), ('b', 'two'), ('c', [1, (2,)]), ('d', None)]))
    add('instance_deleted', with_attrs(New(), [('a', 1), ('b', 2), ('c', 3)]))
    del OBJECTS[-1][1].b
    ATTR_NAMES[id(OBJECTS[-1][1])].remove('b')
    deep = with_attrs(New(), [('leaf', 1)])
    for level in range(5):
        deep = with_attrs(New.Inner(), [('level', level), ('child', deep)])
    add('instance_nested', deep)
    me = New()
    with_attrs(me, [('me', me), ('items', [me])])
    add('instance_cycle', me)
    add('instance_many', with_attrs(Old(), [('a%02d' % i, i) for i in range(MAX_ITEMS + 8)]))
    add('instance_with_repr_attrs', with_attrs(WithRepr(), [('shown', 'yes')]))
    add('instance_in_list', [with_attrs(New(), [('x', 1)]), {'k': with_attrs(New(), [('y', [2])])}])
    add('instance_object', object())
    add('split_dict', split.__dict__)
    add('split_dict_reordered', reordered.__dict__)

    add('module_sys', sys)
    add('module_json', __import__('json'))
    add('module_os', os)
    add('module_main', sys.modules['__main__'])

    add('function', top_level_function)
    add('lambda', lambda: None)
    add('closure', make_closure())
    add('function_method', New.__dict__['method'])
    add('bound_method', New().method)
    add('unbound_or_function', New.method)
    add('builtin_function', len)
    add('builtin_method', [].append)
    add('code', top_level_function.__code__)
    add('code_lambda', (lambda: 0).__code__)

    # Everything at once, nested: each part is cut by the limits.
    add('everything', [cycle, self_ref, holes, split, New.Inner, sys, 2 ** 100, -0.0, u([0xe9] * 300)])


def event_truth(event):
    """What pyxray's repr of a threading.Event holds: its class, its Condition (itself shown with its
    attributes: 3.x _cond, 2.7 _Event__cond), its flag, and how it ends (the address). The rest
    holds a lock whose C repr pyxray does not reproduce; 2.7 lists the attributes in hash order."""
    names = list(vars(event))
    cond_name = [n for n in names if n.endswith('cond')][0]
    flag_name = [n for n in names if n.endswith('flag')][0]

    def name(obj):
        return object_repr(obj)[1:].rsplit(' object at ', 1)[0]
    return {'address': id(event),
            'prefix': '<%s(' % name(event),
            'contains': ['%s=<%s(' % (cond_name, name(vars(event)[cond_name])),
                         '%s=%r' % (flag_name, vars(event)[flag_name])],
            'suffix': ') at %s>' % address(event)}


def entry(label, obj):
    return {'label': label, 'address': id(obj), 'type': type(obj).__name__, 'repr': repr(obj),
            'expected': bounded(obj)}


def main():
    out_path = sys.argv[1]
    lifetime = int(sys.argv[2]) if len(sys.argv) > 2 else 600
    signal.alarm(lifetime)  # a safety net: the test kills the process group long before
    build()
    # Addresses that are not objects, for the error paths.
    data = b'A' * 64
    add('bytes_for_inside', data)
    header = sys.getsizeof(b'') - 1  # where a bytes object's characters start
    inside = id(data) + ((header + 7) // 8) * 8 + 8
    doc = {
        'pid': os.getpid(),
        'python': sys.version.split()[0],
        'version_info': list(sys.version_info[:3]),
        'limits': {'max_depth': MAX_DEPTH, 'max_items': MAX_ITEMS, 'max_string': MAX_STRING},
        'objects': [entry(label, obj) for label, obj in OBJECTS],
        'not_objects': {'inside_bytes': inside, 'misaligned': id(data) + 4},
        'event': event_truth(FOREVER),
    }
    tmp = out_path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(doc, f)
    os.rename(tmp, out_path)
    while not FOREVER.is_set():
        FOREVER.wait(3600)


if __name__ == '__main__':
    main()
