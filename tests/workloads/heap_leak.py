# Integration-test workload for heap snapshots and py-heap-diff: a leak of a known number of
# leakapp.Widget objects into a module global between stages, among churn that leaves nothing behind.
#
#   python heap_leak.py DIR [LIFETIME_SECONDS]
#
# Stage 1 is the baseline; stage 2 leaks WIDGETS[1] Widgets (and DICTS[1] dicts), stage 3 WIDGETS[2]
# more; stage 4 freezes the heap (gc.freeze) with a cycle no name reaches holding a leakapp.Orphan
# (its truth's heap misses what is frozen: gc.get_objects skips the permanent generation). Each stage churns (builds and drops a hundred thousand dicts, lists, strs and tuples and a
# thousand cycles, then collects), measures its own heap as tests/workloads/heap.py does
# (gc.get_objects + gc.get_referents + dict keys, each object once, sys.getsizeof; the walk's own
# containers left out), writes it to DIR/truthN.json (by rename), then blocks in os.read on the FIFO
# DIR/go until the test writes a byte to it to start the next stage. The truth also names one leaked
# Widget (CACHE['k'][PATH_INDEX]) for py-referrers --path, and the deep sizes of CACHE and of its
# list by py-sizeof --deep's rule for py-biggest --deep.
import gc
import json
import os
import signal
import sys
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import leakapp  # noqa: E402

WIDGETS = [0, 1234, 2345]
PATH_INDEX = 777  # the leaked Widget whose chain py-referrers --path is asked for (stages 2 and 3)
DICTS = [0, 500, 500]
STAGES = 4  # 4: gc.freeze() of the whole heap and a frozen, unreachable cycle (py-referrers --path)


def qualified(t):
    name = getattr(t, '__qualname__', None) or t.__name__
    mod = getattr(t, '__module__', None)
    if not isinstance(mod, str) or mod in ('builtins', '__builtin__'):
        return name
    return mod + '.' + name


def code_refs(co):
    names = ('co_consts', 'co_names', 'co_filename', 'co_name', 'co_qualname', 'co_exceptiontable')
    names += ('co_linetable',) if sys.version_info >= (3, 10) else ('co_varnames', 'co_code', 'co_lnotab')
    return [v for v in (getattr(co, n, None) for n in names) if v is not None]


def heap_truth(exclude):
    gc.collect()
    roots = gc.get_objects()
    stack = list(roots)
    seen = set()
    per_type = {}
    skip = set(id(x) for x in (roots, stack, seen, per_type) + exclude)
    code_type = types.CodeType
    objects = total = 0
    while stack:
        o = stack.pop()
        i = id(o)
        if i in seen or i in skip:
            continue
        seen.add(i)
        size = sys.getsizeof(o)
        e = per_type.get(type(o))
        if e is None:
            e = per_type[type(o)] = [0, 0]
        e[0] += 1
        e[1] += size
        objects += 1
        total += size
        stack.extend(gc.get_referents(o))
        if isinstance(o, dict):
            stack.extend(o.keys())
        elif type(o) is code_type:
            stack.extend(code_refs(o))
    out = {}
    for t, (count, size) in per_type.items():
        prev = out.get(qualified(t), (0, 0))
        out[qualified(t)] = (prev[0] + count, prev[1] + size)
    return objects, total, out


def deep_size(root):
    # py-sizeof --deep's rule (and py-biggest --deep's): sys.getsizeof of the object and of everything
    # it references (gc.get_referents plus dict keys), each once, never entering types, modules or
    # functions. Its own seen set and stack are not reachable from `root`: they do not count.
    skipped = (type, types.ModuleType, types.FunctionType)
    seen = set([id(root)])
    stack = [root]
    total = 0
    while stack:
        o = stack.pop()
        total += sys.getsizeof(o)
        refs = gc.get_referents(o)
        if isinstance(o, dict):
            refs.extend(o.keys())
        for r in refs:
            if id(r) not in seen and not isinstance(r, skipped):
                seen.add(id(r))
                stack.append(r)
    return total


class Cycle:
    def __init__(self):
        self.me = self


def churn():
    junk = [({'i': i}, [i, i], 'churn-%d' % i, (i, str(i))) for i in range(100000)]
    cycles = [Cycle() for _ in range(1000)]
    del junk, cycles
    gc.collect()


def report(path, stage, frozen=(0, 0)):
    doc = {'pid': os.getpid(), 'stage': stage, 'python': sys.version.split()[0],
           'version_info': list(sys.version_info[:3]),
           'widget_size': sys.getsizeof(leakapp.Widget(0)),
           'widgets': sum(WIDGETS[:stage]), 'sample': id(leakapp.CACHE['k'][0]) if leakapp.CACHE['k'] else 0,
           'path_index': PATH_INDEX,
           'path_sample': id(leakapp.CACHE['k'][PATH_INDEX]) if len(leakapp.CACHE['k']) > PATH_INDEX else 0,
           'marker': id(leakapp.Widget.registry[0]),
           'frozen_list': frozen[0], 'orphan': frozen[1],
           'interned_key': id([k for k in leakapp.CACHE if k == 'k'][0]),
           'cache': id(leakapp.CACHE), 'cache_deep': deep_size(leakapp.CACHE),
           'cache_list': id(leakapp.CACHE['k']), 'cache_list_deep': deep_size(leakapp.CACHE['k'])}
    text = json.dumps(doc)  # held as one str while the heap is walked (left out of it)
    del doc
    objects, total, per_type = heap_truth((text,))
    doc = json.loads(text)
    del text
    doc['heap'] = {'objects': objects, 'bytes': total,
                   'types': dict((k, {'count': c, 'bytes': b}) for k, (c, b) in per_type.items())}
    del per_type
    gc.collect()
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(doc, f)
    os.rename(tmp, path)


def main():
    out_dir = sys.argv[1]
    signal.alarm(int(sys.argv[2]) if len(sys.argv) > 2 else 600)  # a safety net
    fifo = os.path.join(out_dir, 'go')
    os.mkfifo(fifo)
    # Read and write: opening does not wait for the test to open its end.
    fd = os.open(fifo, os.O_RDWR)
    frozen = (0, 0)
    for stage in range(1, STAGES + 1):
        if stage <= len(WIDGETS):
            leakapp.leak(WIDGETS[stage - 1], DICTS[stage - 1])
        else:  # the heap's truth of this stage misses the frozen objects (gc.get_objects skips them)
            frozen = leakapp.freeze_orphan()
        churn()
        report(os.path.join(out_dir, 'truth%d.json' % stage), stage, frozen)
        os.read(fd, 1)  # blocks in C until the test says "next stage"


if __name__ == '__main__':
    main()
