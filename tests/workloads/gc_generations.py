# Integration-test workload for py-heap-summary --generations: objects of classes staged in known GC
# generations, with the process's own per-generation counts as ground truth, then blocks in a C call:
#
#   python gc_generations.py OUT_PATH [LIFETIME_SECONDS]
#
# With automatic collection off (gc.disable(), so that nothing moves once counted):
#   Frozen   1,000 instances, gc.collect() then gc.freeze(): the permanent generation (3.7+; before
#            3.7 there is no freeze and they stay in the oldest generation, gen2)
#   Old      2,000 instances and OldDict (a dict subclass, whose size pyxray reads with its keys) 500,
#            then gc.collect(): every survivor is in the oldest generation, gen2
#   Young    3,000 instances and BigYoung (over 512 bytes: malloc'd, outside pymalloc's arenas) 10,
#            after the last collection: gen0
# The truth per staged class is counted in the process where gc.get_objects(generation=N) exists
# (3.8+), and is the staging above otherwise; "totals" holds len(gc.get_objects(N)) per generation
# and gc.get_freeze_count() (null before 3.8 / 3.7). Written atomically (rename) after everything is
# counted; the report's own objects are young and few.
#
# Must run unchanged on Python 2.7 and 3.6+: no f-strings.
from __future__ import print_function

import gc
import json
import os
import signal
import sys
import threading

OUT_PATH = sys.argv[1]
LIFETIME = int(sys.argv[2]) if len(sys.argv) > 2 else 240
signal.alarm(LIFETIME)  # should the test runner die without killing us: SIGALRM's default ends us

FROZEN, OLD, OLD_DICTS, YOUNG, BIG_YOUNG = 1000, 2000, 500, 3000, 10


class Frozen(object):
    __slots__ = ('n',)


class Old(object):
    __slots__ = ('n',)


class OldDict(dict):
    pass


class Young(object):
    __slots__ = ('n',)


BigYoung = type('BigYoung', (object,), {'__slots__': tuple('s%d' % i for i in range(120))})

STAGED = {'Frozen': Frozen, 'Old': Old, 'OldDict': OldDict, 'Young': Young, 'BigYoung': BigYoung}
HAS_FREEZE = hasattr(gc, 'freeze')
GEN_NAMES = ('gen0', 'gen1', 'gen2')


def make(cls, n):
    out = []
    for i in range(n):
        o = cls()
        if cls is OldDict:
            o['k%d' % (i % 7)] = i
        elif cls is not BigYoung:
            o.n = i
        out.append(o)
    return out


def by_construction():
    counts = dict((name, {'gen0': 0, 'gen1': 0, 'gen2': 0, 'permanent': 0}) for name in STAGED)
    counts['Frozen']['permanent' if HAS_FREEZE else 'gen2'] = FROZEN
    counts['Old']['gen2'] = OLD
    counts['OldDict']['gen2'] = OLD_DICTS
    counts['Young']['gen0'] = YOUNG
    counts['BigYoung']['gen0'] = BIG_YOUNG
    return counts


def measured():
    # Per staged class, how many instances each generation's list holds. gc.get_objects() never shows
    # the permanent generation: Frozen's count there is what was made and is on no other list (its
    # instances cannot be untracked); the other classes were made after gc.freeze().
    counts = dict((name, {'gen0': 0, 'gen1': 0, 'gen2': 0, 'permanent': 0}) for name in STAGED)
    totals = {}
    made = {'Frozen': FROZEN, 'Old': OLD, 'OldDict': OLD_DICTS, 'Young': YOUNG, 'BigYoung': BIG_YOUNG}
    classes = dict((cls, name) for name, cls in STAGED.items())
    for i, gen in enumerate(GEN_NAMES):
        objs = gc.get_objects(generation=i)
        totals[gen] = len(objs)
        for o in objs:
            name = classes.get(type(o))
            if name is not None:
                counts[name][gen] += 1
        del objs
    counts['Frozen']['permanent'] = made['Frozen'] - sum(counts['Frozen'][g] for g in GEN_NAMES)
    totals['permanent'] = gc.get_freeze_count()
    return counts, totals


def main():
    gc.disable()
    keep = {}
    keep['Frozen'] = make(Frozen, FROZEN)
    gc.collect()
    if HAS_FREEZE:
        gc.freeze()
    keep['Old'] = make(Old, OLD)
    keep['OldDict'] = make(OldDict, OLD_DICTS)
    gc.collect()
    keep['Young'] = make(Young, YOUNG)
    keep['BigYoung'] = make(BigYoung, BIG_YOUNG)
    try:
        gc.get_objects(generation=0)
        counts, totals = measured()
    except TypeError:  # before 3.8: no generation argument
        counts, totals = by_construction(), None
    truth = {
        'pid': os.getpid(),
        'python': sys.version.split()[0],
        'version_info': list(sys.version_info[:3]),
        'has_freeze': HAS_FREEZE,
        'counts': dict(('__main__.' + k, v) for k, v in counts.items()),
        'totals': totals,
        'threads': [{'name': 'MainThread'}],
    }
    tmp = OUT_PATH + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(truth, f)
    os.rename(tmp, OUT_PATH)
    del truth, counts, totals
    lock = threading.Lock()
    lock.acquire()
    lock.acquire()  # blocks in C until the test ends us


main()
