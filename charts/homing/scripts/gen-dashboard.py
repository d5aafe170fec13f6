#!/usr/bin/env python3
"""Writes charts/homing/dashboards/homing.json (`--check`: exit 1 when the file differs).

Every query selects `namespace` and `queue` (the monitors' relabelings add them), rates use
$__rate_interval, queue-wide gauges (set only by the maintenance lease holder) use max by
partition (a partitioned queue has a lease per partition and a `partition` label; a queue of
one has neither), then sum where a queue's total is meant, and the rows follow the story:
throughput and errors, affinity, latency, backlog, workers.
"""
import pathlib
import sys
import json
S = '{namespace=~"$namespace", queue=~"$queue"}'
def sel(extra=""):
    return '{namespace=~"$namespace", queue=~"$queue"' + (", " + extra if extra else "") + "}"
DS = {"type": "prometheus", "uid": "${datasource}"}
panels = []
y = 0
pid = 0
def row(title):
    global y, pid
    pid += 1
    panels.append({"type": "row", "id": pid, "title": title, "collapsed": False, "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
    y += 1
    row.x = 0
def panel(title, desc, unit, targets, w=8, kind="timeseries", minv=None, maxv=None):
    global y, pid
    pid += 1
    if row.x + w > 24:
        row.x = 0; y += 8
    defaults = {"unit": unit}
    if minv is not None: defaults["min"] = minv
    if maxv is not None: defaults["max"] = maxv
    p = {"type": kind, "id": pid, "title": title, "description": desc, "datasource": DS,
         "gridPos": {"h": 8, "w": w, "x": row.x, "y": y},
         "fieldConfig": {"defaults": defaults, "overrides": []},
         "options": {"legend": {"showLegend": True, "displayMode": "list", "placement": "bottom"}, "tooltip": {"mode": "multi", "sort": "desc"}} if kind == "timeseries" else {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}, "orientation": "auto", "textMode": "auto", "colorMode": "value", "graphMode": "area", "justifyMode": "auto"},
         "targets": [{"refId": chr(65 + i), "datasource": DS, "expr": e, "legendFormat": l, "range": True} for i, (e, l) in enumerate(targets)]}
    panels.append(p)
    row.x += w
def endrow():
    global y
    y += 8
R = "[$__rate_interval]"
def total(gauge):
    """A lease-holder gauge's total over partitions (and the selected queues)."""
    return f"sum(max by (namespace, queue, partition) ({gauge}{S}))"
OK = sel('outcome="ok"')
OV = sel('source="overflow"')
row("Throughput and errors")
panel("Jobs started by source", "Jobs workers started per second, from an inbox (sent to the session's owner) or the overflow.", "ops",
      [(f"sum by (source) (rate(homing_jobs_started_total{S}{R}))", "{{source}}")], w=5)
panel("Jobs finished by outcome", "Jobs finished per second: ok, retry (back to the delayed set), dead (dead-lettered), stale (finished after being reclaimed).", "ops",
      [(f"sum by (outcome) (rate(homing_jobs_finished_total{S}{R}))", "{{outcome}}")], w=5)
panel("Jobs pushed by route", "Jobs pushed per second by producers that export metrics (the Rust client), by route.", "ops",
      [(f"sum by (route) (rate(homing_jobs_pushed_total{S}{R}))", "{{route}}")], w=4)
panel("Ingress envelopes by outcome", "Envelopes taken from the ingress list per second (producers in any language): routed, duplicate, malformed.", "ops",
      [(f"sum by (outcome) (rate(homing_ingress_envelopes_total{S}{R}))", "{{outcome}}")], w=4)
panel("Redis errors by operation", "Errors talking to Redis per second, by operation; workers retry with backoff.", "ops",
      [(f"sum by (op) (rate(homing_redis_errors_total{S}{R}))", "{{op}}")], w=3)
panel("Invalid queue settings", "1 while a stored queue setting breaks its rule, by field: every script refuses the queue until `homing queue init --update` fixes it.", "short",
      [(f"max by (field) (homing_settings_invalid{S})", "{{field}}")], w=3, minv=0, maxv=1)
endrow()
row("Affinity")
panel("Affinity hit ratio", "Share of successful jobs that ran on their session's owner (warm).", "percentunit",
      [(f"sum by (queue) (rate(homing_jobs_warm_total{S}{R})) / sum by (queue) (rate(homing_jobs_finished_total{OK}{R}))", "{{queue}}")], w=6, minv=0, maxv=1)
panel("Spill ratio", "Share of started jobs taken from the overflow (new sessions, spilled, stolen and reclaimed jobs).", "percentunit",
      [(f"sum by (queue) (rate(homing_jobs_started_total{OV}{R})) / sum by (queue) (rate(homing_jobs_started_total{S}{R}))", "{{queue}}")], w=6, minv=0, maxv=1)
panel("Routes by reason", "Pushes per second by route and reason, from producers that export metrics: hit, new, spill busy/dead, off, shadow.", "ops",
      [(f"sum by (route, reason) (rate(homing_jobs_pushed_total{S}{R}))", "{{route}} {{reason}}")], w=6)
panel("Pins stamped and released", "Sessions that got an owner, and pins released because the owner stalled.", "ops",
      [(f"sum(rate(homing_pins_stamped_total{S}{R}))", "stamped"),
       (f"sum by (reason) (rate(homing_pins_released_total{S}{R}))", "released {{reason}}")], w=6)
endrow()
row("Latency")
for metric, what, desc in [("homing_job_wait_seconds", "Wait time", "Seconds from first enqueue to start, p50/p95/p99 over all workers."),
                           ("homing_job_run_seconds", "Run time", "Seconds a handler ran, p50/p95/p99 over all workers.")]:
    panel(what, desc, "s", [(f"histogram_quantile({q}, sum by (le) (rate({metric}_bucket{S}{R})))", f"p{int(q*100)}") for q in (0.5, 0.95, 0.99)], w=12)
endrow()
row("Backlog")
panel("Overflow backlog", "Entries in the overflow streams (waiting or running), summed over partitions; set by each partition's maintenance lease holder, so max per partition.", "short",
      [(total("homing_overflow_backlog"), "overflow")], w=5)
panel("Overflow backlog per partition", "Entries in each partition's overflow stream, what each KEDA trigger scales on (the busiest sets the replica count); one unlabelled line for a queue of one partition.", "short",
      [(f"max by (partition) (homing_overflow_backlog{S})", "partition {{partition}}")], w=5)
panel("Inbox backlog per worker", "Entries in each live worker's inbox (waiting or running), summed over the partitions it serves.", "short",
      [(f"sum by (worker) (max by (namespace, queue, partition, worker) (homing_inbox_backlog{S}))", "{{worker}}")], w=5)
panel("Delayed, dead and ingress", "Jobs in the delayed set (retries, scheduled), dead letters kept, and envelopes waiting in the ingress list, summed over partitions.", "short",
      [(total("homing_delayed_jobs"), "delayed"), (total("homing_dead_jobs"), "dead"), (total("homing_ingress_backlog"), "ingress")], w=5)
panel("Promoted delayed jobs", "Delayed jobs (retries and scheduled pushes) moved to a stream per second when due.", "ops",
      [(f"sum(rate(homing_jobs_promoted_total{S}{R}))", "promoted")], w=4)
endrow()
row("Workers")
panel("Workers alive", "Workers listed in the queue (heartbeating within their liveness TTL); per partition when it has several (a worker serving several is listed in each).", "short",
      [(f"max by (partition) (homing_workers{S})", "workers {{partition}}")], w=8)
panel("Workers reaped", "Dead workers removed after their jobs were taken back.", "short",
      [(f"sum(increase(homing_workers_reaped_total{S}{R}))", "reaped")], w=8)
panel("Jobs reclaimed by reason", "Jobs taken back per second: dead (worker reaped), stalled (lease not renewed), wait (stolen after max_wait).", "ops",
      [(f"sum by (reason) (rate(homing_jobs_reclaimed_total{S}{R}))", "{{reason}}")], w=8)
endrow()
VAR_DS = {"type": "datasource", "name": "datasource", "label": "Data source", "query": "prometheus", "current": {}, "hide": 0, "refresh": 1, "regex": "", "options": []}
def qvar(name, label, q):
    return {"type": "query", "name": name, "label": label, "datasource": DS, "definition": q,
            "query": {"query": q, "refId": f"{name}-var"}, "refresh": 2, "includeAll": True, "multi": True,
            "allValue": ".*", "current": {}, "options": [], "hide": 0, "regex": "", "sort": 1}
dash = {
    "uid": "homing-queue",
    "title": "Homing queue",
    "description": "Throughput and errors, affinity, latency, backlog and workers of Homing queues.",
    "tags": ["homing", "redis", "queue"],
    "editable": True,
    "graphTooltip": 1,
    "schemaVersion": 39,
    "version": 1,
    "time": {"from": "now-1h", "to": "now"},
    "refresh": "30s",
    "timezone": "",
    "timepicker": {},
    "fiscalYearStartMonth": 0,
    "liveNow": False,
    "weekStart": "",
    "links": [],
    "annotations": {"list": []},
    "templating": {"list": [VAR_DS,
        qvar("namespace", "Namespace", "label_values(homing_jobs_started_total, namespace)"),
        qvar("queue", "Queue", 'label_values(homing_jobs_started_total{namespace=~"$namespace"}, queue)')]},
    "panels": panels,
}
out = pathlib.Path(__file__).resolve().parent.parent / "dashboards" / "homing.json"
text = json.dumps(dash, indent=2) + "\n"
if sys.argv[1:] == ["--check"]:
    if out.read_text() != text:
        sys.exit("charts/homing/dashboards/homing.json differs from scripts/gen-dashboard.py: run it")
else:
    out.write_text(text)
