# -*- coding: utf-8 -*-
# Integration-test workload for --locals, py-locals, py-up/py-down, py-print NAME and py-list: parks
# threads in frames with known variables (arguments of every kind, defaults, cells and free
# variables, a local shadowing a global, a generator, a class body, a module body, non-ASCII names
# and values), then writes the ground truth to OUT_PATH as JSON:
#
#   python frames.py OUT_PATH [LIFETIME_SECONDS]
#
# For every thread: its frames innermost first (as stacks.py reports them) and, for each frame, its
# variables as CPython's own frame.f_locals lists them ([name, repr(value)] pairs, in f_locals'
# order), the argument names (co_varnames[:argcount + kwonly + *args + **kwargs]), and where
# frame-relative name lookups land (local, global, builtin) with the repr found there.
#
# Must run unchanged on Python 2.7 and 3.6+: no f-strings, and every piece of syntax that needs a
# newer version (keyword-only and positional-only arguments, non-ASCII identifiers) is compiled
# from a string with its real line numbers, only where the syntax exists.
#
# Every parked thread blocks in os.read() on a pipe nobody writes to: a C call without a Python
# frame, so each thread's innermost Python frame is the one holding the variables. Threads are
# started with the low-level thread module (no threading.py frames). Every value visible in any
# frame has a short repr computed by C code (no class-defined __repr__), so repr(value) is exactly
# what pyxray must print; check_value() enforces that before anything is written. The reporter
# thread exits right after writing OUT_PATH, and nothing changes afterwards.
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

PY2 = sys.version_info[0] == 2
BUILTINS_MODULE = sys.modules['__builtin__' if PY2 else 'builtins']
READY_TIMEOUT = 20.0      # seconds; the test gives up at 30
POLL_INTERVAL = 0.1       # two equal snapshots this far apart mean the stacks are settled
MAX_DEPTH = 3             # pyxray's default repr limits: every value here stays within them
MAX_ITEMS = 32
MAX_STRING = 200
PARK_MARKER = '# PARKED'  # marks every line where a thread blocks
PROBES = ('shadowed', 'GLOBAL_ANSWER', 'len', 'nope_not_defined')

BLOCK_FD, KEEP_FD = os.pipe()  # nothing is ever written to KEEP_FD: reads from BLOCK_FD block
REGISTRY = {}                  # thread ident -> [role, native id]; written by each thread itself
GLOBAL_ANSWER = 42
shadowed = 'global shadowed'   # a local of the same name hides it in args_frame


def native_id():
    get = getattr(thread_mod, 'get_native_id', None)  # 3.8+
    return get() if get is not None else None


def entry(role, fn, args):
    REGISTRY[thread_mod.get_ident()] = [role, native_id()]
    fn(*args)


# --- positional arguments, a default, *args, **kwargs, a shadowing local, unbound locals ---

def args_frame(pos, dflt='d', *rest, **opts):
    shadowed = 'local shadowed'
    total = pos + len(rest)
    gone = 'deleted'
    del gone                     # unbound again: not listed
    text = u'caf\xe9 \u2603'
    os.read(BLOCK_FD, 1)  # PARKED
    later = 'never bound'        # not reached: not listed
    return shadowed, total, text, later


def args_caller(seed):
    scratch = [seed, seed * 2]
    args_frame(seed, 'x', 'r1', 'r2', extra=seed)
    return scratch


# --- cells and free variables (an argument that is also a cell) ---

def closure_outer(a, b=2):
    plain = 'plain'
    shared = ['cell', a]

    def closure_inner(x):
        y = (x, shared[0])
        os.read(BLOCK_FD, 1)  # PARKED
        return a, y

    return closure_inner(5), plain


# --- a generator frame, resumed once, with its own locals ---

def gen_frame(n, *more):
    total = n + len(more)
    yield total
    label = 'resumed'
    os.read(BLOCK_FD, 1)  # PARKED
    yield label


def gen_driver(count):
    seen = []
    for item in gen_frame(count, 'm1'):
        seen.append(item)
    return seen


# --- a class body (its namespace is its locals) ---

def class_driver(tag):
    class ParkedClass(object):
        kind = tag
        size = 3
        os.read(BLOCK_FD, 1)  # PARKED
    return ParkedClass


# --- a module body, run in a namespace of its own ---

def park():
    os.read(BLOCK_FD, 1)  # PARKED


_MODULE_SOURCE_LINE = sys._getframe().f_lineno + 1
MODULE_SOURCE = """
mod_number = 7
mod_text = 'module level'
mod_list = [1, (2, None), {'k': 3.5}]
park()  # PARKED
mod_after = 'never bound'
"""


def module_driver():
    namespace = {'__builtins__': BUILTINS_MODULE, '__name__': 'parked_module', 'park': park}
    code = compile('\n' * (_MODULE_SOURCE_LINE - 1) + MODULE_SOURCE, __file__, 'exec')
    # eval() runs 'exec' code too; 2.7's exec statement would make this function unoptimized.
    eval(code, namespace)


# --- Python 3 only: keyword-only arguments, non-ASCII identifiers and values ---

_PY3_SOURCE_LINE = sys._getframe().f_lineno + 1
PY3_SOURCE = u"""
def kw_frame(pos, dflt='d', *rest, kwonly, kwdflt=7, **opts):
    inner = (pos, kwonly)
    os.read(BLOCK_FD, 1)  # PARKED


def kw_caller():
    kw_frame(1, 2, 3, kwonly='k', extra=True, more=None)


def ünïcode_frame(ärg, *, ключ='значение'):
    名前 = 'naïve ☃ 😀 \u200b'
    os.read(BLOCK_FD, 1)  # PARKED


def ünïcode_caller():
    données = {'clé': 'été'}
    ünïcode_frame('☃', ключ=données['clé'])
"""

# --- Python 3.8+ only: positional-only arguments ---

_PY38_SOURCE_LINE = sys._getframe().f_lineno + 1
PY38_SOURCE = u"""
def posonly_frame(p1, p2=2, /, q=3, *, r):
    s = p1 + p2 + q + r
    os.read(BLOCK_FD, 1)  # PARKED


def posonly_caller():
    posonly_frame(10, r=4)
"""


def compile_here(source, first_line):
    """Defines the functions of `source` in this module, with their real line numbers in this file."""
    code = compile(u'\n' * (first_line - 1) + source, __file__, 'exec')
    exec(code, globals())


if sys.version_info >= (3,):
    compile_here(PY3_SOURCE, _PY3_SOURCE_LINE)
if sys.version_info >= (3, 8):
    compile_here(PY38_SOURCE, _PY38_SOURCE_LINE)
del PY3_SOURCE, PY38_SOURCE  # module globals are the main thread's <module> locals: keep them short


# --- ground truth ---

def check_value(where, name, value, depth=0):
    """repr(value) must be exactly what pyxray prints: C-level reprs only (a class's own __repr__
    cannot run, so pyxray would print object.__repr__), within its limits (nothing cut). An instance
    of a class with attributes is what pyxray shows instead: <module.Class(attr=value, ...) at 0x...>
    (a module body's __loader__, say)."""
    attrs = getattr(value, '__dict__', None)
    if type(value).__flags__ & (1 << 9) and not isinstance(value, type) and isinstance(attrs, dict) and attrs:
        if depth >= MAX_DEPTH or len(attrs) > MAX_ITEMS:
            raise ValueError('%s: %s is an instance too big for the limits' % (where, name))
        shown = ', '.join('%s=%s' % (k, check_value(where, name, v, depth + 1)) for k, v in list(attrs.items()))
        return '<%s(%s) at 0x%x>' % (object.__repr__(value)[1:].rsplit(' object at ', 1)[0], shown, id(value))
    for klass in type(value).__mro__:
        if '__repr__' in klass.__dict__:
            if klass.__flags__ & (1 << 9):  # Py_TPFLAGS_HEAPTYPE: a Python-level __repr__
                raise ValueError('%s: %s has a Python __repr__ (%s)' % (where, name, klass.__name__))
            break
    if isinstance(value, (list, tuple, dict, set, frozenset)):
        if depth >= MAX_DEPTH:  # pyxray prints a container this deep as [...]
            raise ValueError('%s: %s nests containers too deeply for the limits' % (where, name))
        if len(value) > MAX_ITEMS:
            raise ValueError('%s: %s has too many items for the limits' % (where, name))
        items = list(value.items()) if isinstance(value, dict) else [(x, None) for x in value]
        for k, v in items:
            check_value(where, name, k, depth + 1)
            check_value(where, name, v, depth + 1)
    elif isinstance(value, (str, bytes, type(u''))) and len(value) > MAX_STRING:
        raise ValueError('%s: %s is too long for the limits (%d characters)' % (where, name, len(value)))
    return repr(value)


CO_OPTIMIZED = 0x1  # variables in slots (functions); else in the f_locals dict (module, class body)


def argument_names(code):
    if not code.co_flags & CO_OPTIMIZED:
        return []
    n = code.co_argcount + getattr(code, 'co_kwonlyargcount', 0)
    n += bool(code.co_flags & 0x4) + bool(code.co_flags & 0x8)  # CO_VARARGS, CO_VARKEYWORDS
    return list(code.co_varnames[:n])


def slot_order(code, bound):
    """CPython's order of a frame's variables: a function's slots (co_varnames, then cells, then
    free variables; an argument that is also a cell keeps its argument slot); a module or class
    body's namespace in dict order (f_locals' own order). 2.7's f_locals dict is in hash order, so
    a function's order is computed from the code object on every version. (A 2.7 class body has
    CO_NEWLOCALS like a function, but not CO_OPTIMIZED: its variables live in its namespace dict.)"""
    if not code.co_flags & CO_OPTIMIZED:
        return bound
    order = []
    for name in code.co_varnames + code.co_cellvars + code.co_freevars:
        if name in bound and name not in order:
            order.append(name)
    return order


def lookups(frame, local_vars):
    out = {}
    for name in PROBES:
        if name in local_vars:
            out[name] = {'scope': 'local', 'repr': local_vars[name]}
        elif name in frame.f_globals:
            out[name] = {'scope': 'global', 'repr': check_value('globals', name, frame.f_globals[name])}
        elif name in frame.f_builtins:
            out[name] = {'scope': 'builtin', 'repr': check_value('builtins', name, frame.f_builtins[name])}
        else:
            out[name] = None
    return out


def describe(frame, with_locals):
    """Frames innermost first, as CPython's own frame objects report them."""
    frames = []
    while frame is not None:
        code = frame.f_code
        entry = {
            'function': code.co_name,
            'qualname': getattr(code, 'co_qualname', None),  # 3.11+
            'file': code.co_filename,
            'line': frame.f_lineno,
        }
        if with_locals:
            where = '%s line %d' % (code.co_name, frame.f_lineno)
            pairs = [[name, check_value(where, name, value)] for name, value in list(frame.f_locals.items())]
            entry['locals'] = pairs
            entry['order'] = slot_order(code, [name for name, _ in pairs])
            entry['arguments'] = argument_names(code)
            entry['lookups'] = lookups(frame, dict(pairs))
        frames.append(entry)
        frame = frame.f_back
    return frames


def source_line(path, number):
    with open(path, 'rb') as f:
        lines = f.read().decode('utf-8').split('\n')
    return lines[number - 1] if 0 < number <= len(lines) else ''


def is_parked(frames):
    return bool(frames) and frames[0]['file'] == __file__ and PARK_MARKER in source_line(__file__, frames[0]['line'])


def report(out_path, roles):
    me = thread_mod.get_ident()
    deadline = time.time() + READY_TIMEOUT
    previous = None
    while True:
        current = sys._current_frames()
        idents = [i for i in list(REGISTRY) if i != me]  # list(): one C call, safe from other threads
        snap = dict((i, describe(current[i], False)) for i in idents if i in current)
        ready = (sorted(r for r, _ in list(REGISTRY.values())) == sorted(roles) and len(snap) == len(idents)
                 and all(is_parked(f) for f in snap.values()))
        if ready and snap == previous:
            break
        previous = snap if ready else None
        if time.time() > deadline:
            sys.stderr.write('frames.py: threads did not settle within %.0f s:\n%r\n' % (READY_TIMEOUT, snap))
            sys.stderr.flush()
            os._exit(3)
        time.sleep(POLL_INTERVAL)

    current = sys._current_frames()
    try:
        threads = [{
            'thread_id': ident,
            'native_id': REGISTRY[ident][1],
            'role': REGISTRY[ident][0],
            'frames': describe(current[ident], True),
        } for ident in idents]
    except ValueError as e:
        sys.stderr.write('frames.py: %s\n' % e)
        sys.stderr.flush()
        os._exit(4)
    result = {
        'pid': os.getpid(),
        'python': platform.python_version(),
        'version_info': list(sys.version_info[:3]),
        'source_lines': {'module': _MODULE_SOURCE_LINE},
        'threads': threads,
    }
    tmp_path = out_path + '.tmp'
    with open(tmp_path, 'w') as f:
        json.dump(result, f, indent=1)
    os.rename(tmp_path, out_path)  # atomic: the test never sees a partial file


def main():
    out_path = sys.argv[1]
    lifetime = int(sys.argv[2]) if len(sys.argv) > 2 else 120
    signal.alarm(lifetime)  # SIGALRM's default action ends the process: no leftovers
    workers = [
        ('args', args_caller, (3,)),
        ('closure', closure_outer, ('free',)),
        ('gen', gen_driver, (3,)),
        ('class', class_driver, ('tagged',)),
        ('module', module_driver, ()),
    ]
    if sys.version_info >= (3,):
        workers.append(('kwonly', globals()['kw_caller'], ()))
        workers.append(('unicode', globals()[u'\xfcn\xefcode_caller'], ()))
    if sys.version_info >= (3, 8):
        workers.append(('posonly', globals()['posonly_caller'], ()))
    roles = ['main'] + [role for role, _, _ in workers]
    for role, fn, args in workers:
        thread_mod.start_new_thread(entry, (role, fn, args))
    thread_mod.start_new_thread(report, (out_path, roles))
    entry('main', main_parked, (os.path.basename(out_path), lifetime))


def main_parked(name, lifetime):
    limit = lifetime * 2
    os.read(BLOCK_FD, 1)  # PARKED
    return name, limit


if __name__ == '__main__':
    main()
