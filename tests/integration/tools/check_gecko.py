#!/usr/bin/env python3
"""Checks a py-sample Firefox Profiler file against the profiler's format and the same run's output.

    check_gecko.py PROFILE.gecko.json PROFILE.folded SUMMARY.json [--gil]

The Firefox Profiler has no schema or validator: a file loads when the upgraders from its version to
the current one (firefox-devtools/profiler src/profile-logic/processed-profile-versioning.ts, from 57
on) and the views find what they dereference. Those dereferences and the documented rules
(src/types/profile.ts, docs-developer/CHANGELOG-formats.md) are checked here. Then the contents: the
samples' stacks, labelled as folded stacks label them and summed over the threads, must be the folded
file's lines; each thread's leaf functions and samples must add up to its count in the summary
(py-sample --json), and the thread names must be the summary's. --gil: some thread held the GIL (there
must be a HasGIL marker). Prints what is wrong and exits 1, or prints "ok".
"""
import collections
import json
import sys

problems = []


def check(ok, what):
    if not ok:
        problems.append(what)
    return ok


def is_index(v, n):
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < n


def main(path, folded_path, summary_path, want_gil):
    with open(path) as f:
        p = json.load(f)
    with open(summary_path) as f:
        summary = json.load(f)
    meta = p["meta"]
    check(meta.get("preprocessedProfileVersion") == 57, "preprocessedProfileVersion is not 57")
    check(isinstance(meta.get("interval"), (int, float)) and meta["interval"] > 0, "meta.interval")
    check(isinstance(meta.get("startTime"), (int, float)), "meta.startTime")
    cats = meta.get("categories")
    check(isinstance(cats, list) and cats, "meta.categories")
    for c in cats:
        check(isinstance(c.get("name"), str) and isinstance(c.get("color"), str) and c.get("subcategories"),
              "category %r" % c)
    check(any(c.get("color") == "grey" for c in cats), "no grey category (the v53 rule)")
    schemas = {}
    for s in meta["markerSchema"]:  # upgraders read every schema's fields
        check(isinstance(s.get("name"), str) and isinstance(s.get("display"), list), "schema %r" % s)
        check(all("key" in fl and "format" in fl for fl in s["fields"]), "schema fields %r" % s)
        schemas[s["name"]] = s
    strings = p["shared"]["stringArray"]
    check(all(isinstance(s, str) for s in strings), "stringArray holds a non-string")
    string = lambda i: strings[i] if check(is_index(i, len(strings)), "string index %r" % i) else "?"
    threads = p["threads"]
    check(threads, "no threads")

    stacks = collections.Counter()  # folded line -> samples, all threads together
    leaves = collections.Counter()   # (thread, leaf function) -> samples
    markers = 0
    for t in threads:
        name = t.get("name")
        known = len(problems)
        for key in ("processType", "processStartupTime", "processShutdownTime", "registerTime", "unregisterTime",
                    "pausedRanges", "isMainThread", "pid", "tid", "samples", "markers"):
            check(key in t, "thread %r lacks %s" % (name, key))
        check(isinstance(name, str) and name, "thread name %r" % name)
        check(isinstance(t["pid"], str) and t["pid"] == str(summary["pid"]), "pid %r" % t["pid"])
        check(isinstance(t["isMainThread"], bool), "isMainThread")
        for table in ("samples", "stackTable", "frameTable", "funcTable", "resourceTable", "nativeSymbols", "markers"):
            tab = t[table]
            for col, values in tab.items():
                if col != "length" and isinstance(values, list):
                    check(len(values) == tab["length"], "%s.%s of %r has not length values" % (table, col, name))
        st, fr, fu, res, sm = t["stackTable"], t["frameTable"], t["funcTable"], t["resourceTable"], t["samples"]
        check(sm["weight"] is None and sm["weightType"] == "samples", "sample weights")
        check(all(a <= b for a, b in zip(sm["time"], sm["time"][1:])), "samples.time decreases in %r" % name)
        for i, pre in enumerate(st["prefix"]):
            check(pre is None or is_index(pre, i), "stackTable.prefix[%d] = %r is not before it" % (i, pre))
            check(is_index(st["frame"][i], fr["length"]), "stackTable.frame[%d]" % i)
        for i in range(fr["length"]):
            check(is_index(fr["func"][i], fu["length"]), "frameTable.func[%d]" % i)
            check(is_index(fr["category"][i], len(cats)), "frameTable.category[%d]" % i)
        for i in range(fu["length"]):
            string(fu["name"][i])
            check(fu["fileName"][i] is None or is_index(fu["fileName"][i], len(strings)), "funcTable.fileName")
            check(fu["resource"][i] == -1 or is_index(fu["resource"][i], res["length"]), "funcTable.resource")
        for i in range(res["length"]):
            string(res["name"][i])
        mk = t["markers"]
        for i in range(mk["length"]):
            string(mk["name"][i])
            check(mk["startTime"][i] <= mk["endTime"][i] and mk["phase"][i] in (0, 1, 2, 3), "marker %d" % i)
            check(mk["data"][i] is None or mk["data"][i].get("type") in schemas, "marker data %r" % mk["data"][i])
        markers += mk["length"]
        if len(problems) > known:
            continue  # a table that does not hold together cannot be walked


        def label(frame):
            func = fr["func"][frame]
            text, line = string(fu["name"][func]), fr["line"][frame]
            file = string(fu["fileName"][func]) if fu["fileName"][func] is not None else ""
            if file:
                text += " (%s)" % file if line is None else " (%s:%d)" % (file, line)
            return text.replace(";", ":").replace("\n", " ")

        for s in sm["stack"]:
            if s is None:
                continue
            leaf = string(fu["name"][fr["func"][st["frame"][s]]])
            path = []
            while s is not None:
                path.append(label(st["frame"][s]))
                s = st["prefix"][s]
            stacks[";".join(reversed(path))] += 1
            leaves[name, leaf] += 1

    folded = collections.Counter()
    with open(folded_path) as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            folded[stack] += int(count)
    check(stacks == folded, "the samples' stacks are not the folded file's: %r" % ((stacks - folded) + (folded - stacks)))
    folded_leaves = collections.Counter()
    for stack, n in folded.items():
        folded_leaves[stack.split(";")[-1].split(" (")[0]] += n
    by_leaf = collections.Counter()
    for (thread, leaf), n in leaves.items():
        by_leaf[leaf] += n
    check(by_leaf == folded_leaves, "leaf functions %r, folded %r" % (by_leaf, folded_leaves))
    want = collections.Counter()
    for t in summary["threads"]:
        title = t["name"] or ("tid %d" % t["native_id"] if t["native_id"] is not None else "thread 0x%x" % t["thread_id"])
        want[title] += t["samples"]
    got = collections.Counter()
    for (thread, leaf), n in leaves.items():
        got[thread] += n
    check(got == want, "samples per thread %r, summary %r" % (got, want))
    check(sorted(t["name"] for t in threads) == sorted(want), "thread names are not the summary's")
    mains = [t["name"] for t in threads if t["isMainThread"]]
    check(mains == ["MainThread"], "main threads: %r" % mains)
    check(not want_gil or markers > 0, "no HasGIL marker")
    for what in problems[:20]:
        print(what)
    print("ok" if not problems else "%d problems" % len(problems))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3], "--gil" in sys.argv[4:]))
