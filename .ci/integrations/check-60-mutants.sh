# Mutation testing: the one-line mutations of lua/ in tests/mutants/lua.tsv (mutants/lua.py),
# then cargo-mutants over the worker's fetch, execute, maintenance and shutdown code. Each run
# takes one shard of each within the lane's time budget: an eighth of the Lua table (10 or 11
# of 82 mutants, about 2 minutes; a mutant rebuilds the test binary and runs the tests its row
# names) and a fortieth of the 123 Rust mutants (three or four, each against the whole suite,
# about a minute each). The shards turn with the commit, so every pushed change draws its own
# and every mutant runs over a few dozen pushes.
# HOMING_LUA_MUTANTS_SHARD=k/n and HOMING_MUTANTS_SHARD=k/n pick them; 0/1 runs all (the whole
# Rust set takes about 70 minutes here). A surviving mutant fails the check unless
# tests/mutants/equivalent.md lists it with a reason.
# Both mutate the checkout in place (restoring every file), so they refuse to start while the
# files they mutate have uncommitted changes.
source "$(dirname "$0")/tools.sh"
need_apt redis-server redis-server
cd "$ROOT"
fail() { echo "check-60-mutants: $*" >&2; exit 1; }

# The commit picks the shards: a number from its id's first 7 hex digits.
DRAW=$(( 16#$(git rev-parse --short=7 HEAD) ))
LUA_SHARD="${HOMING_LUA_MUTANTS_SHARD:-$(( DRAW % 8 ))/8}"
echo "check-60-mutants: Lua mutants, shard $LUA_SHARD of tests/mutants/lua.tsv"
python3 .ci/integrations/mutants/lua.py "$ROOT" --shard "$LUA_SHARD" || fail "Lua mutants survived (see above)"

if ! command -v cargo-mutants >/dev/null 2>&1; then
  if [ ! -x "$LANE/cargo-mutants/bin/cargo-mutants" ]; then
    cargo install -q --locked cargo-mutants --version 27.1.0 --root "$LANE/cargo-mutants" \
      || missing cargo-mutants "cargo install cargo-mutants failed"
  fi
  export PATH="$LANE/cargo-mutants/bin:$PATH"
fi
FILES=(fetch execute maintenance worker)
[ -z "$(git status --porcelain -- crates/homing-worker)" ] \
  || fail "commit or stash crates/homing-worker first: cargo-mutants mutates it in place"
# nextest runs the suite one process per test, eight at a time (the tests wait far more than
# they compute), tries a failing test twice (a flake is not a catch) and stops the run at the
# first test that fails both times, so a caught mutant costs its first failure, not the suite.
if ! command -v cargo-nextest >/dev/null 2>&1; then
  if [ ! -x "$LANE/cargo-nextest/bin/cargo-nextest" ]; then
    cargo install -q --locked cargo-nextest --version 0.9.143 --root "$LANE/cargo-nextest" \
      || missing cargo-nextest "cargo install cargo-nextest failed"
  fi
  export PATH="$LANE/cargo-nextest/bin:$PATH"
fi
# One Redis for the run (the tests' queue names carry their process id); killed by its pid.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$PORT" --save '' --appendonly no --daemonize yes --pidfile "$LANE/mutants-redis.pid" >/dev/null
trap 'kill "$(cat "$LANE/mutants-redis.pid")" 2>/dev/null || true' EXIT
export REDIS_URL="redis://127.0.0.1:$PORT"
SHARD="${HOMING_MUTANTS_SHARD:-$(( DRAW % 40 ))/40}"
OUT="$LANE/cargo-mutants-out"
rm -rf "$OUT" && mkdir -p "$OUT"
# Round-robin: mutant i on shard i % n. cargo-mutants' default (slice) gives each shard a
# ceil(total/n) run, so with 123 mutants shards 18 and 19 of 20 held none and passed vacuously.
args=(-p homing-worker --test-package homing-tests --test-tool nextest --in-place --timeout 150 -o "$OUT" --shard "$SHARD" --sharding round-robin)
for f in "${FILES[@]}"; do args+=(-f "crates/homing-worker/src/$f.rs"); done
# .ci/run sets HOMING_SUITE_PASSED once the README's test command passed: the unmutated suite
# need not run again (a minute here). Run alone, the lane keeps the baseline, so a broken suite
# is reported as such and not as every mutant caught.
if [ "${HOMING_SUITE_PASSED:-}" = 1 ]; then args+=(--baseline skip); fi
echo "check-60-mutants: cargo-mutants shard $SHARD of the worker's ${FILES[*]} code"
# A mutant that breaks recovery makes a test wait out its own limit (10-20 s, tried twice);
# one that hangs is stopped at 150 s and counts as caught (TIMEOUT).
rc=0
cargo mutants "${args[@]}" -- -p homing-tests --test-threads 8 --retries 1 --max-fail 1:immediate \
  >"$LANE/cargo-mutants.log" 2>&1 || rc=$?
grep -E "^(MISSED|TIMEOUT|ok|FAILED|[0-9]+ mutants)" "$LANE/cargo-mutants.log" || true
# The tree was clean when it started: put back anything an interrupted run left mutated.
git checkout -- crates/homing-worker
survivors=0
while read -r mutant; do
  [ -z "$mutant" ] && continue
  # Listed without line and column, so an edit elsewhere in the file keeps the listing.
  if ! grep -qF -- "- $(sed -E 's/:[0-9]+:[0-9]+:/:/' <<<"$mutant")" tests/mutants/equivalent.md; then
    echo "check-60-mutants: survivor: $mutant" >&2
    survivors=$((survivors + 1))
  fi
done < <(cat "$OUT/mutants.out/missed.txt" 2>/dev/null)
# cargo-mutants exits 2 when a mutant was missed and 3 when one timed out (both judged here);
# anything else but 0 (4: the unmutated tests fail) is a broken run, not a verdict.
case "$rc" in
  0|2|3) ;;
  *) tail -30 "$LANE/cargo-mutants.log" >&2; fail "cargo-mutants failed (exit $rc; its log: target/integrations/cargo-mutants.log)" ;;
esac
count() { cat "$OUT/mutants.out/$1.txt" 2>/dev/null | wc -l; }
echo "check-60-mutants: shard $SHARD: caught $(count caught), timed out (caught) $(count timeout), unviable $(count unviable), missed $(count missed)"
judged=$(( $(count caught) + $(count timeout) + $(count unviable) + $(count missed) ))
[ "$judged" -gt 0 ] || fail "shard $SHARD judged no mutant: the shard is empty or cargo-mutants found none (its log: target/integrations/cargo-mutants.log)"
[ "$survivors" -eq 0 ] || fail "$survivors Rust mutants survived that tests/mutants/equivalent.md does not explain"
