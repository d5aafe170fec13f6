"""The Lua mutation runner: each one-line mutation of tests/mutants/lua.tsv is applied to its
script (the original text is kept in memory and written back after the run, and on SIGINT or
SIGTERM), the tests it names are run, and the mutant must make them fail. A mutant whose tests
still pass survives; survivors not listed with a reason in tests/mutants/equivalent.md fail
the run. It mutates in place, like `cargo mutants --in-place`: a copy of the tree sharing the
target directory would be taken for the original by cargo's fingerprints (the scripts are
reached through homing-core's `lua` link), and a copy with its own target directory needs a
cold build. So it refuses to start while lua/ has uncommitted changes. One mutant costs an incremental build (about 7 s) and its
tests.

usage: lua.py ROOT [--budget SECONDS] [--only LINE,LINE...] [--shard K/N]

--shard K/N runs the K-th of N interleaved shards of the table (mutant i when i % N == K);
0/1, the default, runs them all.
"""
import pathlib
import signal
import subprocess
import sys
import time

ROOT = pathlib.Path(sys.argv[1]).resolve()
BUDGET = float(sys.argv[sys.argv.index("--budget") + 1]) if "--budget" in sys.argv else 1e9
ONLY = set(sys.argv[sys.argv.index("--only") + 1].split(",")) if "--only" in sys.argv else None
SHARD = tuple(map(int, sys.argv[sys.argv.index("--shard") + 1].split("/"))) if "--shard" in sys.argv else (0, 1)
TABLE = ROOT / "tests/mutants/lua.tsv"
EQUIVALENT = ROOT / "tests/mutants/equivalent.md"
TEST_TIMEOUT = 300


def mutants():
    out = []
    for n, line in enumerate(TABLE.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) != 5:
            sys.exit(f"mutants: {TABLE.name}:{n}: want 5 tab-separated columns, got {len(cols)}")
        if ONLY is None or str(n) in ONLY:
            out.append((n, *cols))
    k, of = SHARD
    if not 0 <= k < of:
        sys.exit(f"mutants: --shard {k}/{of}: want K/N with 0 <= K < N")
    return [m for i, m in enumerate(out) if i % of == k]


def lua_is_clean():
    r = subprocess.run(["git", "status", "--porcelain", "--", "lua"], cwd=ROOT, capture_output=True, text=True, check=True)
    return r.stdout.strip() == ""


def run_tests(filters):
    cmd = ["cargo", "test", "-q", "-p", "homing-tests", "--locked", "--test", "it", "--", *filters]
    try:
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=TEST_TIMEOUT)
    except subprocess.TimeoutExpired:
        return False, "timed out"
    ran = [l for l in r.stdout.splitlines() if l.startswith("test result:")]
    counted = sum(int(l.split(" passed")[0].split()[-1]) + int(l.split(" failed")[0].split()[-1]) for l in ran)
    return r.returncode == 0, counted


def main():
    table = mutants()
    equivalent = EQUIVALENT.read_text() if EQUIVALENT.exists() else ""
    if not lua_is_clean():
        sys.exit("mutants: lua/ has uncommitted changes; commit or stash them first (the runner mutates in place)")
    start = time.time()
    # The unmutated tree must pass every test the table names, or a mutant would look caught.
    filters = sorted({f for m in table for f in m[4].split()})
    ok, counted = run_tests(filters)
    if not ok:
        sys.exit(f"mutants: the unmutated tests fail ({counted}); fix them before judging mutants")
    print(f"mutants: baseline: {counted} tests pass unmutated ({time.time() - start:.0f} s)")
    caught, survived, skipped = [], [], []
    for n, file, old, new, tests, what in table:
        if time.time() - start > BUDGET:
            skipped.append((n, file, what))
            continue
        path = ROOT / "lua" / file
        text = path.read_text()
        if text.count(old) != 1:
            sys.exit(f"mutants: {TABLE.name}:{n}: {old!r} occurs {text.count(old)} times in lua/{file}; update the table")
        restore = lambda *_: (path.write_text(text), sys.exit("mutants: interrupted; lua/ restored"))
        signal.signal(signal.SIGINT, restore)
        signal.signal(signal.SIGTERM, restore)
        path.write_text(text.replace(old, new))
        t = time.time()
        try:
            passed, counted = run_tests(tests.split())
        finally:
            path.write_text(text)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if counted == 0 and passed:
            sys.exit(f"mutants: {TABLE.name}:{n}: the filters {tests!r} match no test")
        verdict = "SURVIVED" if passed else "caught"
        print(f"mutants: {verdict:8} lua/{file}:{n} {what} ({time.time() - t:.0f} s, {tests})")
        (survived if passed else caught).append((n, file, what))
    # Leave the `homing` binary and the test binary built from the unmutated scripts.
    subprocess.run(["cargo", "test", "-q", "-p", "homing-tests", "--locked", "--no-run"], cwd=ROOT, check=True,
                   capture_output=True)
    subprocess.run(["cargo", "build", "-q", "-p", "homing-cli", "--locked"], cwd=ROOT, check=True)
    if not lua_is_clean():
        sys.exit("mutants: lua/ differs from git after the run; restore it with git checkout -- lua")
    print(f"mutants: {len(caught)} caught, {len(survived)} survived, {len(skipped)} not run (budget) "
          f"of {len(table)} in {time.time() - start:.0f} s")
    unexplained = [s for s in survived if f"lua.tsv:{s[0]}" not in equivalent]
    for n, file, what in unexplained:
        print(f"mutants: survivor lua.tsv:{n} (lua/{file}: {what}) is not listed in {EQUIVALENT.name}", file=sys.stderr)
    if unexplained:
        sys.exit(1)


main()
