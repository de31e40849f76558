#!/usr/bin/env python3
# Measures, inside a running interpreter, the offsets pyxray's greenlet rows hold
# (core/tasks/greenlet_layout.cpp), and prints the row: no greenlet release ships debug info, so the
# offsets are found by where greenlet's own objects and Python's views of them coincide in memory.
#
#   python3.X tools/greenlet_offsets.py      (with that interpreter's greenlet importable)
#   tests/integration/tools/in-root /var/cache/pyxray/sid-root "$PWD" -- /usr/bin/python3.14 \
#       "$PWD/tools/greenlet_offsets.py"    (sid's; memory is read through /proc/self/mem)
#
# Each offset is found in the implementation object (PyGreenlet.pimpl, greenlet.h) by a value Python
# can name:
#   stack_stop       the main greenlet's (char*)-1; stack_start is the word before it
#   current_frame    a suspended greenlet's saved _PyInterpreterFrame, PyFrameObject.f_frame of gr_frame
#   main_greenlet    a started greenlet's main greenlet (its parent here is another greenlet)
#   parent           that other greenlet
#   thread_state     a pointer in the main greenlet to greenlet's ThreadState, whose first two words
#                    are the main and the current greenlet (ts_current_greenlet = 8)
import os
import struct
import sys

import greenlet

WORDS = 40
MEM = os.open('/proc/self/mem', os.O_RDONLY)  # reads of unmapped memory fail instead of crashing


def word(addr):
    try:
        data = os.pread(MEM, 8, addr)
    except (OSError, OverflowError, ValueError):
        return None
    return struct.unpack('<Q', data)[0] if len(data) == 8 else None


def impl_words(g):
    pimpl = word(id(g) + 32)
    return pimpl, [word(pimpl + 8 * i) for i in range(WORDS)]


def only(offsets, what):
    if len(offsets) != 1:
        sys.exit('%s: %d candidates %s' % (what, len(offsets), offsets))
    return offsets[0]


def inner():
    greenlet.getcurrent().parent.switch()


def main():
    main_g = greenlet.getcurrent()
    d = main_g.__dict__  # made on first use
    if word(id(main_g) + 24) != id(d):
        sys.exit('PyGreenlet is not {HEAD, weakreflist, dict, pimpl}: pimpl is not at 32')
    other = greenlet.greenlet(lambda: None)  # never started: a parent that is not the main greenlet
    g = greenlet.greenlet(inner, parent=other)
    g.switch()  # runs inner() and comes back here: it ran from the main greenlet, its parent is `other`
    _, mw = impl_words(main_g)
    _, gw = impl_words(g)
    # The first one: past the end of the object lie other allocations.
    stack_stop = 8 * [i for i, w in enumerate(mw) if w == 0xFFFFFFFFFFFFFFFF][0]
    f_frame = word(id(g.gr_frame) + 24)  # PyFrameObject {HEAD, f_back, f_frame, ...} (3.11+)
    current_frame = 8 * only([i for i, w in enumerate(gw) if w == f_frame], 'current_frame')
    main_greenlet = 8 * only([i for i, w in enumerate(gw) if w == id(main_g)], 'main_greenlet')
    parent = 8 * only([i for i, w in enumerate(gw) if w == id(other)], 'parent')
    thread_state = 8 * [i for i, w in enumerate(mw) if i * 8 > stack_stop and w and w != id(main_g)
                        and word(w) == id(main_g) and word(w + 8) == id(main_g)][0]
    print('greenlet %s on Python %d.%d:' % (greenlet.__version__, sys.version_info[0], sys.version_info[1]))
    print('  .pimpl = 32, .stack_start = %d, .stack_stop = %d, .current_frame = %d,'
          % (stack_stop - 8, stack_stop, current_frame))
    print('  .main_greenlet = %d, .parent = %d, .thread_state = %d, .ts_current_greenlet = 8'
          % (main_greenlet, parent, thread_state))


main()
