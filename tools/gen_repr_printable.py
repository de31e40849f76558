#!/usr/bin/env python3
"""Generate core/repr/repr_printable.cpp: which non-ASCII code points str.isprintable() rejects, per
CPython minor version (each version ships its own Unicode database), so that py-print escapes a
string exactly as the target's own repr() would.

    tools/gen_repr_printable.py 6=/root/.pyenv/versions/3.6.15/bin/python3.6 ... \
        13=/root/.pyenv/versions/3.13.0/bin/python3.13 > core/repr/repr_printable.cpp

Each argument is MINOR=INTERPRETER (3.MINOR); the oldest given is the baseline, and a range records
the first minor in which it became printable (99: in none of them).
"""
import subprocess
import sys

pys = sys.argv[1:]
maps = {}
for spec in pys:
    minor, exe = spec.split('=')
    data = subprocess.check_output([exe, '-c', 'import sys\nsys.stdout.buffer.write(bytes(0 if chr(c).isprintable() else 1 for c in range(0x110000)))'])
    maps[int(minor)] = data
minors = sorted(maps)
first = minors[0]
ranges = []
for c in range(0x80, 0x110000):
    since = 99
    for m in minors:
        if not maps[m][c]:
            since = m
            break
    if since == first:
        continue
    if ranges and ranges[-1][1] == c - 1 and ranges[-1][2] == since:
        ranges[-1][1] = c
    else:
        ranges.append([c, c, since])
out = []
out.append('// Generated: which non-ASCII code points str.isprintable() rejects, per CPython minor version')
out.append('// (each version ships its own Unicode database). Do not edit; regenerate with')
out.append('// tools/gen_repr_printable.py from every interpreter 3.%d-3.%d.' % (minors[0], minors[-1]))
out.append('#include "repr_impl.hpp"')
out.append('')
out.append('#include <algorithm>')
out.append('#include <iterator>')
out.append('')
out.append('namespace pyxray::repr_detail {')
out.append('namespace {')
out.append('')
out.append('struct Range {')
out.append('  uint32_t first, last;')
out.append('  uint8_t since;  // first 3.x minor in which these are printable; 99: none up to 3.%d' % minors[-1])
out.append('};')
out.append('')
out.append('// Code points >= 0x80 not printable in 3.%d, sorted and disjoint.' % first)
out.append('// clang-format off')
out.append('constexpr Range kRanges[] = {')
line = ''
for a, b, s in ranges:
    item = '{0x%x, 0x%x, %d},' % (a, b, s)
    if len(line) + len(item) + 1 > 98:
        out.append(line.rstrip())
        line = ''
    line += ('  ' if not line else ' ') + item
if line:
    out.append(line)
out.append('};')
out.append('// clang-format on')
out.append('')
out.append('}  // namespace')
out.append('')
out.append('bool is_printable(uint32_t cp, int minor) {')
out.append('  if (cp < 0x80) return cp >= 0x20 && cp < 0x7f;')
out.append('  if (cp > 0x10ffff) return false;')
out.append('  auto it = std::upper_bound(std::begin(kRanges), std::end(kRanges), cp,')
out.append('                             [](uint32_t c, const Range& r) { return c < r.first; });')
out.append('  if (it == std::begin(kRanges)) return true;')
out.append('  --it;')
out.append('  if (cp > it->last) return true;')
out.append('  return minor >= it->since;')
out.append('}')
out.append('')
out.append('}  // namespace pyxray::repr_detail')
print('\n'.join(out))
