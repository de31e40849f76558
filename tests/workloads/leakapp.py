import gc

# The module whose global leaks (tests/workloads/heap_leak.py): py-heap-diff must name its Widget
# type "leakapp.Widget", matched by module and qualified name across snapshots; py-referrers --path
# must name its Marker through the class attribute Widget.registry.


class Widget:
    # Slots: no per-instance dict, so that leaking Widgets grows no other type.
    __slots__ = ('n', 'payload')

    def __init__(self, n):
        self.n = n
        self.payload = None


class Marker:
    pass


# A class attribute holding an object: py-referrers --path names it through the class
# (sys.modules['leakapp'].Widget.registry[0]). Made at import, so in every snapshot alike.
Widget.registry = [Marker()]

# The leak: Widgets appended to CACHE['k'], and a few hundred dicts to CACHE['meta'].
CACHE = {'k': [], 'meta': []}


def leak(widgets, dicts):
    # Small ints only (cached by the interpreter): the leak grows no int count.
    CACHE['k'].extend(Widget(i % 256) for i in range(widgets))
    CACHE['meta'].extend({'i': i % 256} for i in range(dicts))


class Orphan:
    pass


def freeze_orphan():
    # An Orphan in a cycle no name reaches, kept only because gc.freeze() moved the cycle to the
    # permanent generation, which is never collected (3.7+). Returns the ids of the list and the Orphan.
    cycle = []
    cycle.append(cycle)
    cycle.append(Orphan())
    ids = (id(cycle), id(cycle[1]))
    gc.freeze()
    return ids
