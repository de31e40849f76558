#!/usr/bin/env python3
"""Checks that core/ is layered: no source file at its top level, and every unit includes only from
its own folder or the folders below it, in this order (docs/architecture.md):
base, target, layout, interp, repr, heap, locks, tasks, report, sample, commands.
Exit status 1, with one line per violation, when it is not."""
import os
import re
import sys

ORDER = ['base', 'target', 'layout', 'interp', 'repr', 'heap', 'locks', 'tasks', 'report', 'sample', 'commands']

def main():
    core = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'core')
    problems = []
    for name in sorted(os.listdir(core)):
        path = os.path.join(core, name)
        if os.path.isfile(path) and name != 'CMakeLists.txt':
            problems.append(f'core/{name}: a file at the top of core/ (put it in a folder)')
        elif os.path.isdir(path) and name not in ORDER:
            problems.append(f'core/{name}/: a folder not in the layering ({", ".join(ORDER)})')
    for folder in ORDER:
        for dirpath, _, files in os.walk(os.path.join(core, folder)):
            for f in sorted(files):
                if not f.endswith(('.cpp', '.hpp', '.def')):
                    continue
                text = open(os.path.join(dirpath, f), encoding='utf-8').read()
                for target in re.findall(r'^#include "([^"/]+)/[^"]+"', text, re.M):
                    if target not in ORDER:
                        continue
                    if ORDER.index(target) > ORDER.index(folder):
                        problems.append(f'core/{folder}/{f} includes from {target}/, a folder above {folder}/')
                for bare in re.findall(r'^#include "([^"/]+\.(?:hpp|def))"', text, re.M):
                    problems.append(f'core/{folder}/{f} includes "{bare}" without its folder')
    for p in problems:
        print(p)
    return 1 if problems else 0

if __name__ == '__main__':
    sys.exit(main())
