# Mutation testing: the one-line mutations of lua/ in tests/mutants/lua.tsv (mutants/lua.py),
# then cargo-mutants over the worker's fetch, execute, maintenance and shutdown code. Each run
# takes one shard of each within the lane's time budget: a sixth of the Lua table (about 7
# minutes: a mutant rebuilds the test binary, about 30 s with its tests; all 78 take about 40) and a twelfth of the Rust mutants (one or two of them fit). The shards turn with
# the commit, so every pushed change draws its own and every mutant runs over a few pushes.
# HOMING_LUA_MUTANTS_SHARD=k/n and HOMING_MUTANTS_SHARD=k/n pick them; 0/1 runs all (the whole
# Rust set takes hours here). A surviving Lua mutant fails the check unless
# tests/mutants/equivalent.md lists it with a reason; a surviving Rust mutant is reported
# (HOMING_MUTANTS_STRICT=1 fails on it).
# Both mutate the checkout in place (restoring every file), so they refuse to start while the
# files they mutate have uncommitted changes.
source "$(dirname "$0")/tools.sh"
need_apt redis-server redis-server
cd "$ROOT"
fail() { echo "check-60-mutants: $*" >&2; exit 1; }

# The commit picks the shards: a number from its id's first 7 hex digits.
DRAW=$(( 16#$(git rev-parse --short=7 HEAD) ))
LUA_SHARD="${HOMING_LUA_MUTANTS_SHARD:-$(( DRAW % 6 ))/6}"
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
SHARD="${HOMING_MUTANTS_SHARD:-$(( DRAW % 12 ))/12}"
OUT="$LANE/cargo-mutants-out"
rm -rf "$OUT" && mkdir -p "$OUT"
args=(-p homing-worker --test-package homing-tests --in-place --timeout 300 -o "$OUT" --shard "$SHARD")
for f in "${FILES[@]}"; do args+=(-f "crates/homing-worker/src/$f.rs"); done
echo "check-60-mutants: cargo-mutants shard $SHARD of the worker's ${FILES[*]} code"
# The tests that exercise those paths (the whole suite takes twice as long and adds no catch).
# Within the lane's budget (4 minutes, so that CI stays near 30): what did not run is reported, not failed.
# These tests take 60-250 s unmutated on 2 cores as the load varies, so the per-mutant timeout
# is 300 s: a TIMEOUT (counted as caught) must be a mutant that hangs, not a slow machine. That
# leaves room for one or two mutants per run; a full run (HOMING_MUTANTS_SHARD=0/1) takes hours.
timeout --signal=INT 240 cargo mutants "${args[@]}" -- -- routing:: failures:: drain:: proofs_recovery:: \
  proofs_metrics::a_workers proofs_metrics::the_wait faults::a_frozen faults::behind faults::a_long \
  faults::forget settings::a_running settings::a_worker requests:: script_rules:: proofs_retries:: | grep -E "^(MISSED|TIMEOUT|ok|[0-9]+ mutants)" || true
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
# Until a full run has cleared all 107, a Rust survivor is reported, not failed (the Lua
# mutants, all caught, fail above); HOMING_MUTANTS_STRICT=1 fails on one.
if [ "$survivors" -gt 0 ]; then
  [ "${HOMING_MUTANTS_STRICT:-0}" = 1 ] && fail "$survivors Rust mutants survived that tests/mutants/equivalent.md does not explain"
  echo "check-60-mutants: REPORT: $survivors Rust mutants of this shard survived (listed above); not failing the lane until a full run has cleared them"
fi
count() { cat "$OUT/mutants.out/$1.txt" 2>/dev/null | wc -l; }
echo "check-60-mutants: shard $SHARD: caught $(count caught), timed out (caught) $(count timeout), unviable $(count unviable), missed $(count missed)"
