"""The interpreters the sampling benchmarks run on: BENCH_PYTHONS=a:b, else every pyenv CPython 3.11+."""
import os

PYENV = "/root/.pyenv/versions"


def interpreters():
    wanted = os.environ.get("BENCH_PYTHONS")
    if wanted:
        return wanted.split(":")
    found = []
    for minor in (11, 12, 13):
        for name in sorted(os.listdir(PYENV)) if os.path.isdir(PYENV) else []:
            if name.startswith("3.%d." % minor):
                found.append(os.path.join(PYENV, name, "bin", "python3.%d" % minor))
    return found
