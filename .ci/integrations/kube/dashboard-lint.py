"""The dashboard's structure, as far as it can be checked without Grafana: a stable uid, a
datasource variable used by every panel, `namespace` and `queue` selected in every query,
$__rate_interval in every rate, a unit and a description on every panel, lease-holder gauges
aggregated with max by a grouping that keeps `partition` (each partition has its own lease
holder; a sum or a max across partitions would mix them), rows in story order, panels inside
the 24-column grid without overlaps.
usage: dashboard-lint.py DASHBOARD.json"""
import json
import re
import sys

d = json.load(open(sys.argv[1]))
problems = []
ROWS = ["Throughput and errors", "Affinity", "Latency", "Backlog", "Workers"]
GAUGES = ["homing_overflow_backlog", "homing_inbox_backlog", "homing_delayed_jobs", "homing_dead_jobs", "homing_workers", "homing_ingress_backlog"]
if d.get("uid") != "homing-queue":
    problems.append(f"uid is {d.get('uid')!r}, want the stable 'homing-queue'")
for key in ("title", "schemaVersion", "panels", "templating", "time"):
    if key not in d:
        problems.append(f"no {key}")
variables = {v["name"]: v for v in d["templating"]["list"]}
if variables.get("datasource", {}).get("type") != "datasource":
    problems.append("no datasource variable")
for name in ("namespace", "queue"):
    if name not in variables:
        problems.append(f"no {name} variable")
rows = [p["title"] for p in d["panels"] if p["type"] == "row"]
if rows != ROWS:
    problems.append(f"rows {rows}, want {ROWS}")
cells = set()
for p in d["panels"]:
    g = p["gridPos"]
    if g["x"] + g["w"] > 24:
        problems.append(f"{p['title']}: wider than the grid")
    for x in range(g["x"], g["x"] + g["w"]):
        for y in range(g["y"], g["y"] + g["h"]):
            if (x, y) in cells:
                problems.append(f"{p['title']}: overlaps another panel")
                break
            cells.add((x, y))
    if p["type"] == "row":
        continue
    if not p.get("description"):
        problems.append(f"{p['title']}: no description")
    if not p.get("fieldConfig", {}).get("defaults", {}).get("unit"):
        problems.append(f"{p['title']}: no unit")
    if p.get("datasource", {}).get("uid") != "${datasource}":
        problems.append(f"{p['title']}: not on the datasource variable")
    for t in p["targets"]:
        e = t["expr"]
        for sel in re.findall(r"homing_[a-z_]+\{([^}]*)\}", e) or [""]:
            if 'namespace=~"$namespace"' not in sel or 'queue=~"$queue"' not in sel:
                problems.append(f"{p['title']}: a selector without namespace and queue: {e}")
        if re.search(r"homing_[a-z_]+(?!\{)\b(?![_a-z])", e.replace("_bucket{", "{")) and not re.search(r"homing_[a-z_]+\{", e):
            problems.append(f"{p['title']}: a series without a selector: {e}")
        for rng in re.findall(r"\[([^\]]+)\]", e):
            if rng != "$__rate_interval":
                problems.append(f"{p['title']}: range [{rng}] instead of [$__rate_interval]")
        for g_ in GAUGES:
            for m in re.finditer(rf"\b{g_}\{{", e):
                inner = re.search(r"max by \(([^)]*)\) \($", e[: m.start()])
                if not inner or "partition" not in [x.strip() for x in inner.group(1).split(",")]:
                    problems.append(f"{p['title']}: a lease-holder gauge not inside max by (..., partition): {e}")
for pr in problems:
    print(f"dashboard-lint: {pr}")
sys.exit(1 if problems else 0)
