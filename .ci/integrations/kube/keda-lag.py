"""KEDA's view of a real queue. Renders the chart's ScaledObject, takes its stream key and
consumer group, drives a real queue (real `homing worker` processes) through load, steal,
hand-back, reclaim, dead letters and replay, and samples `XINFO GROUPS` on that key all along:
the lag KEDA scales on must be an integer equal to the overflow entries not yet delivered
(entries after the group's last-delivered-id, as `homing status` counts them).

Redis 7.0 answers a nil lag when the entry at the group's last-delivered-id was deleted while an
older entry is still in the stream (its tombstone rule). Homing's ack therefore keeps that one
entry on the overflow (acked, listed in Q:overflow:kept) until delivery moves past it; this
check fails on any nil lag (HOMING_KEDA_STRICT=0 reports such samples as a finding instead, for
looking at the old behaviour), and on an integer lag that differs from the undelivered count.

usage: keda-lag.py ROOT HELM WORKDIR   (REDIS_URL set; target/debug/homing built)
"""
import json
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time

import redis
import yaml

ROOT, HELM, WORK = pathlib.Path(sys.argv[1]), sys.argv[2], pathlib.Path(sys.argv[3])
HOMING = str(ROOT / "target/debug/homing")
URL = os.environ["REDIS_URL"]
QUEUE = f"keda-{os.getpid()}"
STRICT = os.environ.get("HOMING_KEDA_STRICT", "1") == "1"
procs = []


def fail(msg):
    print(f"check-35-keda: {msg}", file=sys.stderr)
    for p in procs:
        if p.poll() is None:
            p.kill()
    sys.exit(1)


rendered = subprocess.run([HELM, "template", "homing", str(ROOT / "charts/homing"), "--set", f"queue={QUEUE}",
                           "--set", "redis.url=redis://r:6379", "--set", "keda.enabled=true",
                           "--api-versions", "keda.sh/v1alpha1"], check=True, capture_output=True, text=True).stdout
scaled = [d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "ScaledObject"]
if len(scaled) != 1:
    fail("the chart rendered no ScaledObject")
trigger = scaled[0]["spec"]["triggers"][0]
if trigger["type"] != "redis-streams" or "lagCount" not in trigger["metadata"]:
    fail(f"the trigger is not redis-streams in lag mode: {trigger}")
STREAM, GROUP = trigger["metadata"]["stream"], trigger["metadata"]["consumerGroup"]
print(f"check-35-keda: ScaledObject watches stream {STREAM!r}, group {GROUP!r}, lagCount {trigger['metadata']['lagCount']}")
Q = STREAM[: -len(":overflow")]

r = redis.Redis.from_url(URL)
phase = "start"
samples = []  # (phase, lag, undelivered, known_cause)


def sample():
    """XINFO GROUPS and the whole stream, read in one MULTI so they agree."""
    p = r.pipeline(transaction=True)
    p.xinfo_groups(STREAM)
    p.xrange(STREAM, "-", "+")
    groups, entries = p.execute()
    g = next((g for g in groups if g["name"].decode() == GROUP), None)
    if g is None:
        return
    last = g["last-delivered-id"].decode()
    key = lambda i: tuple(int(x) for x in (i.decode() if isinstance(i, bytes) else i).split("-"))
    ids = [key(e[0]) for e in entries]
    undelivered = sum(1 for i in ids if i > key(last))
    lag = g.get("lag")
    known = (key(last) not in ids) and any(i < key(last) for i in ids) and undelivered > 0
    samples.append((phase, lag, undelivered, known, last))


stop = threading.Event()


def sampler():
    while not stop.is_set():
        try:
            sample()
        except redis.ResponseError:
            pass
        time.sleep(0.01)


def spawn(name, *args):
    env = dict(os.environ, HOMING_QUEUE=QUEUE)
    p = subprocess.Popen([HOMING, "worker", "--name", name, "--maintenance-interval", "50ms", *args], env=env,
                         stdout=subprocess.DEVNULL, stderr=open(WORK / f"{name}.log", "w"))
    procs.append(p)
    return p


def homing(*args):
    return subprocess.run([HOMING, *args], env=dict(os.environ, HOMING_QUEUE=QUEUE), check=True,
                          capture_output=True, text=True).stdout


def wait(what, cond, limit=30):
    deadline = time.time() + limit
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.02)
    fail(f"timed out after {limit} s waiting for {what}")


def settled():
    s = json.loads(homing("status", "--json"))
    return s["overflow"] == 0 and s["delayed"] == 0 and all(w["backlog"] == 0 for w in s["workers"])


homing("queue", "init", "--max-wait", "500ms", "--visibility-timeout", "2s", "--max-attempts", "2",
       "--backoff-base", "100ms", "--backoff-max", "200ms")
rec = WORK / "record.txt"
w1 = spawn("w1", "--concurrency", "2", "record", "--file", str(rec), "--sleep", "200ms")
w2 = spawn("w2", "--concurrency", "2", "record", "--file", str(rec), "--sleep", "200ms")
wait("two workers", lambda: r.zcard(f"{Q}:workers") == 2)
threading.Thread(target=sampler, daemon=True).start()

phase = "load (complete)"
for i in range(40):
    homing("push", f"n{i}", "x")
wait("the load to finish", settled)

phase = "steal"
homing("push", "home", "sleep:10")
wait("session home to get an owner", lambda: r.get(f"{Q}:pin:home"), 10)
for _ in range(3):
    homing("push", "home", "sleep:1500")
for i in range(10):
    homing("push", f"m{i}", "x")
wait("the steal", settled, 30)

phase = "hand-back"
owner = r.get(f"{Q}:pin:home").decode()
victim = w1 if owner.startswith("w1-") else w2
for _ in range(4):
    homing("push", "home", "sleep:1000")
for i in range(10):
    homing("push", f"h{i}", "sleep:300")
victim.send_signal(signal.SIGTERM)
victim.wait(timeout=30)
survivor = w2 if victim is w1 else w1
replacement = spawn("w3", "--concurrency", "2", "record", "--file", str(rec), "--sleep", "200ms")
wait("the handed-back jobs", settled, 30)

phase = "reclaim (stalled worker)"
for i in range(6):
    homing("push", f"r{i}", "sleep:1500")
time.sleep(0.3)
survivor.send_signal(signal.SIGSTOP)
for i in range(10):
    homing("push", f"q{i}", "x")
wait("the stalled worker's jobs reclaimed", lambda: r.zcard(f"{Q}:workers") == 1 or settled(), 30)
survivor.send_signal(signal.SIGCONT)
survivor.send_signal(signal.SIGTERM)
survivor.wait(timeout=30)
wait("the reclaimed jobs", settled, 30)

phase = "dead letters"
echo = spawn("w4", "--concurrency", "2", "echo")
replacement.send_signal(signal.SIGTERM)
replacement.wait(timeout=30)
wait("only the echo worker", lambda: r.zcard(f"{Q}:workers") == 1)
for i in range(10):
    homing("push", f"d{i}", "fatal:no")
    homing("push", f"e{i}", "fail:flaky")
wait("the dead letters", lambda: r.xlen(f"{Q}:dead") >= 20 and settled(), 30)

phase = "replay"
echo.send_signal(signal.SIGTERM)
echo.wait(timeout=30)
w5 = spawn("w5", "--concurrency", "2", "record", "--file", str(rec), "--sleep", "200ms")
homing("dead", "replay", "--all")
wait("the replayed jobs", lambda: r.xlen(f"{Q}:dead") == 0 and settled(), 30)

# Scale-down with a backlog: a worker holding an older long job and a newer short one is sent
# SIGTERM while undelivered entries wait. Draining, it fetches nothing more, so after the short
# job's complete deletes the group's last-delivered entry, the older one is still there.
phase = "drain with a backlog"
w5.send_signal(signal.SIGTERM)
w5.wait(timeout=30)
w6 = spawn("w6", "--concurrency", "2", "record", "--file", str(rec), "--sleep", "10ms")
wait("one worker", lambda: r.zcard(f"{Q}:workers") == 1)
homing("push", "old", "sleep:3000")
wait("the long job delivered", lambda: r.xinfo_groups(STREAM)[0]["pending"] == 1)
homing("push", "new", "sleep:300")
wait("the short job delivered", lambda: r.xinfo_groups(STREAM)[0]["pending"] == 2)
for i in range(8):
    homing("push", f"b{i}", "x")
w6.send_signal(signal.SIGTERM)
w6.wait(timeout=30)
w7 = spawn("w7", "--concurrency", "4", "record", "--file", str(rec), "--sleep", "10ms")
wait("the backlog after the drain", settled, 30)
phase = "settled"
time.sleep(0.1)
stop.set()
time.sleep(0.05)
sample()
for p in procs:
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)

bad, known, by_phase = [], {}, {}
for ph, lag, undelivered, cause, last in samples:
    n = by_phase.setdefault(ph, [0, 0, 0])
    n[0] += 1
    if lag is None:
        if cause and not STRICT:
            known[ph] = known.get(ph, 0) + 1
            n[1] += 1
        else:
            bad.append(f"{ph}: nil lag with {undelivered} undelivered (last-delivered-id {last})")
    elif lag != undelivered:
        bad.append(f"{ph}: lag {lag} but {undelivered} undelivered")
    else:
        n[2] += max(0, min(1, undelivered))
for ph, (total, nils, nonzero) in by_phase.items():
    print(f"check-35-keda: {ph}: {total} samples, {nils} nil lag, {nonzero} with undelivered entries counted right")
if known:
    print("check-35-keda: FINDING (Redis " + r.info()["redis_version"] + "): XINFO GROUPS lag was nil in "
          + ", ".join(f"{ph} ({n} samples)" for ph, n in known.items())
          + ": the entry at the group's last-delivered-id had been XDELed (complete/fail/reclaim ack and delete"
          " the entry they finish) while an older entry was still in the stream and undelivered ones followed."
          " KEDA cannot scale on a nil lag. HOMING_KEDA_STRICT=1 fails on it.")
if bad:
    for b in bad[:20]:
        print(f"check-35-keda: {b}", file=sys.stderr)
    fail(f"{len(bad)} samples where the lag KEDA reads is wrong")
if not samples[-1][1] == 0 or samples[-1][2] != 0:
    fail(f"the settled queue shows lag {samples[-1][1]}, want 0")
if sum(1 for s in samples if s[1] and s[1] > 0) == 0:
    fail("no sample saw a positive lag: the workload never built an undelivered backlog")
print(f"check-35-keda: {len(samples)} samples; every integer lag equals the undelivered overflow entries")
