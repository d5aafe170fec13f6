"""A real Prometheus scrapes two real `homing worker` processes under a load that moves every
metric (ok, retry, dead, malformed ingress, delayed, warm hits, a steal, a stalled worker's
reclaim and reap, Redis connection errors); then every dashboard query and every recording
rule, sent to Prometheus' HTTP API, must return data.

usage: prometheus-load.py ROOT RULES.yaml WORKDIR   (REDIS_URL set; homing and prometheus built)
"""
import json
import math
import os
import pathlib
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

import redis

ROOT, RULES, WORK = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
HOMING = str(ROOT / "target/debug/homing")
URL = os.environ["REDIS_URL"]
QUEUE = f"prom-{os.getpid()}"
NAMESPACE = "homing-ci"
Q = f"homing:{{{QUEUE}}}"
# Producer-side series: the chart scrapes workers only, and no producer here exports metrics.
PRODUCER_ONLY = "homing_jobs_pushed_total"
procs = []


def fail(msg):
    print(f"check-40-observability: {msg}", file=sys.stderr)
    for p in procs:
        if p.poll() is None:
            p.kill()
    sys.exit(1)


def port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def wait(what, cond, limit=30):
    deadline = time.time() + limit
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    fail(f"timed out after {limit} s waiting for {what}")


def spawn(args, log):
    env = dict(os.environ, HOMING_QUEUE=QUEUE, RUST_LOG="info")
    p = subprocess.Popen([HOMING, *args], env=env, stdout=subprocess.DEVNULL, stderr=open(WORK / log, "w"))
    procs.append(p)
    return p


def homing(*args):
    return subprocess.run([HOMING, *args], env=dict(os.environ, HOMING_QUEUE=QUEUE), check=True,
                          capture_output=True, text=True).stdout


r = redis.Redis.from_url(URL)
homing("queue", "init", "--max-wait", "1s", "--visibility-timeout", "2s", "--backoff-base", "200ms",
       "--backoff-max", "1s", "--max-attempts", "3")
metrics_ports = [port(), port()]
workers = [spawn(["worker", "--name", f"w{i + 1}", "--metrics-addr", f"127.0.0.1:{p}", "--concurrency", "4",
                  "--maintenance-interval", "50ms", "echo"], f"w{i + 1}.log") for i, p in enumerate(metrics_ports)]
wait("two workers", lambda: r.zcard(f"{Q}:workers") == 2)

prom_port = port()
(WORK / "prometheus.yml").write_text(json.dumps({
    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
    "rule_files": [str(RULES)],
    "scrape_configs": [{
        "job_name": "homing",
        # What the chart's ServiceMonitor/PodMonitor relabelings add in a cluster.
        "static_configs": [{"targets": [f"127.0.0.1:{p}" for p in metrics_ports],
                            "labels": {"namespace": NAMESPACE, "queue": QUEUE}}],
    }],
}))
prom = subprocess.Popen(["prometheus", f"--config.file={WORK / 'prometheus.yml'}", f"--storage.tsdb.path={WORK / 'tsdb'}",
                         f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
                        stdout=subprocess.DEVNULL, stderr=open(WORK / "prometheus.log", "w"))
procs.append(prom)


def api(path, **params):
    url = f"http://127.0.0.1:{prom_port}/api/v1/{path}?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.load(resp)


def up():
    try:
        res = api("query", query="up")["data"]["result"]
        return len(res) == 2 and all(x["value"][1] == "1" for x in res)
    except Exception:
        return False


wait("Prometheus to scrape both workers", up, 60)

# Steady load through the ingress list (JSON envelopes): repeat sessions for warm hits, some
# retried then ok, some fatal (dead letters), one malformed envelope.
stop = threading.Event()


def load():
    i = 0
    while not stop.is_set():
        batch = []
        for _ in range(20):
            i += 1
            payload = "fatal:bad" if i % 97 == 0 else ("fail:flaky" if i % 31 == 0 else f"turn {i}")
            batch.append(json.dumps({"session": f"s{i % 12}", "payload": payload}))
        r.lpush(f"{Q}:ingress", *batch)
        time.sleep(0.1)


loader = threading.Thread(target=load, daemon=True)
loader.start()
r.lpush(f"{Q}:ingress", "{not json")
homing("push", "later", "scheduled", "--delay", "1s")

# A third worker (not scraped; its maintenance never holds the lease, the first two do) that
# owns a session, gets slow (a steal), then freezes (a stalled reclaim releasing its pin, then a
# reap).
w3 = spawn(["worker", "--name", "w3", "--concurrency", "1", "--liveness-ttl", "5s", "record",
            "--file", str(WORK / "w3.txt")], "w3.log")
wait("the third worker", lambda: r.zcard(f"{Q}:workers") == 3)
owned = None
for i in range(60):
    session = f"slow-{i}"
    homing("push", session, "sleep:10")
    owner = wait(f"{session} to get an owner", lambda: r.get(f"{Q}:pin:{session}"), 10).decode()
    if owner.startswith("w3-"):
        owned = session
        break
if not owned:
    fail("the third worker never became a session's owner")
homing("push", owned, "sleep:2500")
homing("push", owned, "sleep:10")


def scraped(name, labels=""):
    total = 0.0
    for p in metrics_ports:
        with urllib.request.urlopen(f"http://127.0.0.1:{p}/metrics", timeout=5) as resp:
            for line in resp.read().decode().splitlines():
                if line.startswith(name) and labels in line and not line.startswith("#"):
                    total += float(line.rsplit(" ", 1)[1])
    return total


wait("a job stolen from the slow owner", lambda: scraped("homing_jobs_reclaimed_total", 'reason="wait"') > 0, 20)
wait("the slow job to finish", lambda: r.xlen(f"{Q}:inbox:{owner}") == 0, 20)
homing("push", owned, "sleep:8000")
wait("the long job to start on the third worker",
     lambda: r.xpending(f"{Q}:inbox:{owner}", "homing")["pending"] == 1, 10)
w3.send_signal(signal.SIGSTOP)
wait("the frozen worker's job reclaimed as stalled, its pin released",
     lambda: scraped("homing_pins_released_total", 'reason="stalled"') > 0, 20)
wait("the frozen worker reaped", lambda: scraped("homing_workers_reaped_total") > 0, 20)
w3.kill()
# Redis drops every client connection: the workers count errors and reconnect.
r.client_kill_filter(_type="normal", skipme=True)
wait("Redis errors counted", lambda: scraped("homing_redis_errors_total") > 0, 20)
wait("retries promoted and dead letters", lambda: scraped("homing_jobs_promoted_total") > 0
     and scraped("homing_jobs_finished_total", 'outcome="dead"') > 0, 30)
# A corrupted queue setting: every script refuses the queue, the workers raise the alarm gauge,
# and clear it once the setting is fixed.
r.hset(f"{Q}:meta", "max_waiting", "abc")
wait("the bad setting reported", lambda: scraped("homing_settings_invalid", 'field="max_waiting"') >= 1, 20)
time.sleep(2)  # scraped by Prometheus while set
r.hset(f"{Q}:meta", "max_waiting", "1")
wait("the bad setting cleared", lambda: scraped("homing_settings_invalid", 'field="max_waiting"') == 0, 20)
time.sleep(3)  # a few more scrapes and rule evaluations of everything above

SUBST = {"$namespace": NAMESPACE, "$queue": QUEUE, "$__rate_interval": "30s"}
dash = json.loads((ROOT / "charts/homing/dashboards/homing.json").read_text())
checked, empty, skipped = 0, [], []
for panel in dash["panels"]:
    for t in panel.get("targets", []):
        expr = t["expr"]
        for k, v in SUBST.items():
            expr = expr.replace(k, v)
        if PRODUCER_ONLY in expr:
            skipped.append(panel["title"])
            continue
        res = api("query", query=expr)
        if res["status"] != "success" or not res["data"]["result"]:
            empty.append(f"{panel['title']}: {expr}")
        checked += 1
for v in dash["templating"]["list"]:
    if v["type"] == "query":
        q = v["query"]["query"].replace("$namespace", NAMESPACE)
        inner = q[len("label_values("):-1].rsplit(",", 1)
        values = api("series", **{"match[]": inner[0].strip()})["data"]
        got = {s.get(inner[1].strip()) for s in values}
        if {"namespace": NAMESPACE, "queue": QUEUE}[v["name"]] not in got:
            empty.append(f"variable {v['name']}: {q} finds {got}")
        checked += 1
rules = api("rules")["data"]["groups"]
for g in rules:
    for rule in g["rules"]:
        if rule["health"] != "ok":
            empty.append(f"rule {rule['name']}: health {rule['health']}: {rule.get('lastError')}")
        if rule["type"] == "recording":
            res = api("query", query=rule["query"])["data"]["result"]
            rec = api("query", query=rule["name"])["data"]["result"]
            if not res or not rec or not any(math.isfinite(float(x["value"][1])) for x in res):
                empty.append(f"recording rule {rule['name']}: no finite data ({rule['query']})")
            checked += 1
alerts = {a["labels"]["alertname"] for a in api("alerts")["data"]["alerts"]}
if "HomingDeadLettersIncreasing" not in alerts:
    empty.append(f"HomingDeadLettersIncreasing not pending or firing after dead letters (active: {sorted(alerts)})")
stop.set()
for w in workers:
    w.send_signal(signal.SIGTERM)
for w in workers:
    w.wait(timeout=30)
prom.terminate()
prom.wait(timeout=30)
if empty:
    for e in empty:
        print(f"check-40-observability: no data: {e}", file=sys.stderr)
    sys.exit(1)
print(f"check-40-observability: {checked} dashboard queries, variables and recording rules return data from "
      f"a real Prometheus; alerts active: {sorted(alerts)}; not checked for data (producer metrics, not "
      f"scraped by the chart): {sorted(set(skipped))}")
