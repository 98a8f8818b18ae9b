#!/usr/bin/env python3
"""Instructions attributable to one loaded library in callgrind profiles.

    attribute.py [--library NAME.so] [--top K] --marginal SHORT LONG N BASE_SHORT BASE_LONG
        per statement: LONG ran N statements more than SHORT; BASE_SHORT and
        BASE_LONG are the same two runs without the library (for the dispatch)
    attribute.py [--library NAME.so] --logins BASE FILE...
        per backend (login, statements, exit) of each FILE; BASE is a backend
        of the same kind without the library
    attribute.py --statements FILE...
        calls to PortalRun (statements executed) in each FILE

The library is pg_poolgov.so unless --library names another (to compare
pg_stat_statements.so the same way). What counts, from callgrind's call
graph, so that the same work gives the same figure whatever the machine
does meanwhile:

  + the inclusive cost of every call from outside into the library (its
    hooks, callbacks and SQL functions), which holds the PostgreSQL and libc
    work those functions call (clock reads, locks, catalog lookups);
  + the inclusive cost of PostgreSQL's object-access dispatchers
    (RunFunctionExecuteHook and the other Run*Hook functions of
    objectaccess.c), which PostgreSQL calls only because a hook is set;
  - the inclusive cost of what the library's functions chain to: the
    standard_ExecutorStart/Run/Finish/End, standard_ProcessUtility and
    standard_planner functions, and the previous hooks of other modules (any
    function of another library in the same directory);
  + the dispatch: the instructions of PostgreSQL's functions that call into
    the library (CommitTransaction walking the transaction-callback list,
    ExecutorStart testing its hook) beyond what those functions execute in
    the same run without the library.

Per statement, only work that grows with the statements counts: an entry
called as often in the short run as in the long one (login, exit, the
first plans) is left out, so that the login path's own variations do not
leak into the per-statement figure.

Not counted: work that is not a call the library makes or causes (a larger
GUC table, more shared memory); kernel work, which callgrind does not see.
A library function reached again below its own chained call (a nested
statement) is counted at its own entry: the chained call is subtracted whole.
"""
import os
import re
import sys

LIBRARY = "pg_poolgov.so"
CHAINED = re.compile(
    r"^standard_(ExecutorStart|ExecutorRun|ExecutorFinish|ExecutorEnd|ProcessUtility|planner)$")
ACCESS_DISPATCH = re.compile(r"^Run[A-Za-z]+Hook(_str)?$")


class Profile:
    """One callgrind output file: self cost per function, and call edges
    (caller, callee, count, inclusive cost). A function is (object, name)."""

    def __init__(self, path):
        self.path = path
        self.self_cost = {}
        self.calls = []
        self.summary = 0
        names = {"ob": {}, "fn": {}}
        ob = fn = cob = cfn = None
        pending = None  # the count of a calls= line: its cost line comes next

        def resolve(kind, value):
            m = re.match(r"^\((\d+)\)(?: (.*))?$", value)
            if not m:
                return value
            if m.group(2) is not None:
                names[kind][m.group(1)] = m.group(2)
            return names[kind][m.group(1)]

        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                c = line[:1]
                if c.isdigit() or c in "+-*":
                    fields = line.split()
                    cost = int(fields[1]) if len(fields) > 1 else 0
                    if pending is not None:
                        self.calls.append(((ob, fn), (cob or ob, cfn), pending, cost))
                        pending = cob = cfn = None
                    else:
                        self.self_cost[(ob, fn)] = self.self_cost.get((ob, fn), 0) + cost
                    continue
                key, _, value = line.rstrip("\n").partition("=")
                if key == "ob":
                    ob = resolve("ob", value)
                elif key == "fn":
                    fn = resolve("fn", value)
                    cob = cfn = None
                elif key == "cob":
                    cob = resolve("ob", value)
                elif key == "cfn":
                    cfn = resolve("fn", value)
                elif key == "calls":
                    pending = int(value.split()[0])
                elif line.startswith("summary:"):
                    self.summary = int(line.split()[1])

    def library_dir(self):
        for ob, _ in self.self_cost:
            if ob and os.path.basename(ob) == LIBRARY:
                return os.path.dirname(ob)
        return None


def ours(fn):
    return fn[0] is not None and os.path.basename(fn[0]) == LIBRARY


def in_scope(fn):
    return ours(fn) or ACCESS_DISPATCH.match(fn[1] or "") is not None


def parts_of(profile):
    """The attributable parts of one profile: {(kind, caller, callee):
    [calls, instructions]}, and the self cost of the functions that call
    into the library from outside (where the dispatch is)."""
    libdir = profile.library_dir()

    def chained(fn):
        if CHAINED.match(fn[1] or ""):
            return True
        return (libdir is not None and fn[0] is not None and not ours(fn) and
                os.path.dirname(fn[0]) == libdir)

    parts = {}
    dispatchers = set()
    for caller, callee, count, cost in profile.calls:
        if in_scope(callee) and not in_scope(caller):
            key, sign = ("entry", caller[1], callee[1]), 1
            dispatchers.add(caller)
        elif in_scope(caller) and chained(callee):
            key, sign = ("chained", caller[1], callee[1]), -1
        else:
            continue
        p = parts.setdefault(key, [0, 0])
        p[0] += count
        p[1] += sign * cost
    dispatch = {fn[1]: profile.self_cost.get(fn, 0) for fn in dispatchers}
    return parts, dispatch


def self_of(profile, names):
    out = {}
    for (ob, fn), cost in profile.self_cost.items():
        if fn in names:
            out[fn] = out.get(fn, 0) + cost
    return out


def label(key):
    kind, caller, callee = key
    short = lambda s: re.sub(r"\(.*", "", re.sub(r"^.*::", "", s or "?"))
    if kind == "entry":
        return f"{short(callee)} (from {short(caller)})"
    if kind == "chained":
        return f"minus {short(callee)} (chained from {short(caller)})"
    return f"dispatch in {short(caller)} (beyond the run without the library)"


def marginal(short, long_, n, base_short, base_long, top):
    ps, pl = Profile(short), Profile(long_)
    parts_s, disp_s = parts_of(ps)
    parts_l, disp_l = parts_of(pl)
    per = {}
    for key in set(parts_s) | set(parts_l):
        cs, vs = parts_s.get(key, [0, 0])
        cl, vl = parts_l.get(key, [0, 0])
        if cs == cl:
            continue  # does not grow with the statements
        per[key] = (vl - vs) / n
    names = set(disp_s) | set(disp_l)
    if names:
        bs, bl = self_of(Profile(base_short), names), self_of(Profile(base_long), names)
        for name in names:
            extra = (disp_l.get(name, 0) - disp_s.get(name, 0)) / n - \
                    (bl.get(name, 0) - bs.get(name, 0)) / n
            per[("dispatch", name, "")] = extra
    print(f"{sum(per.values()):.0f}")
    if top:
        for key, cost in sorted(per.items(), key=lambda kv: -abs(kv[1]))[:top]:
            if round(cost, 1) != 0:
                print(f"  {cost:>10.1f}  {label(key)}")
    return 0


def logins(base, files):
    bp = Profile(base)
    for path in files:
        p = Profile(path)
        parts, disp = parts_of(p)
        total = sum(v for _, v in parts.values())
        bself = self_of(bp, set(disp))
        total += sum(v - bself.get(name, 0) for name, v in disp.items())
        print(f"{total}\t{path}")
    return 0


def main(argv):
    global LIBRARY
    top = 0
    while argv and argv[0] in ("--library", "--top"):
        if argv[0] == "--library":
            LIBRARY = argv[1]
        else:
            top = int(argv[1])
        argv = argv[2:]
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    mode, args = argv[0], argv[1:]
    if mode == "--marginal" and len(args) == 5:
        return marginal(args[0], args[1], int(args[2]), args[3], args[4], top)
    if mode == "--logins" and len(args) >= 2:
        return logins(args[0], args[1:])
    if mode == "--statements":
        for path in args:
            p = Profile(path)
            runs = sum(c for _, callee, c, _ in p.calls if callee[1] == "PortalRun")
            print(f"{runs}\t{p.summary}\t{path}")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
