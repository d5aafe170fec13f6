"""Every metric name the dashboard and the rules query is declared in homing-core's metrics.rs,
and every declared name has a dashboard panel. usage: metric-names.py ROOT RULES.yaml"""
import json
import pathlib
import re
import sys

import yaml

root = pathlib.Path(sys.argv[1])
declared = set(re.findall(r'pub const [A-Z_]+: &str = "(homing_[a-z0-9_]+)"',
                          (root / "crates/homing-core/src/metrics.rs").read_text()))
HIST = {n for n in declared if n.endswith("_seconds")}


def names(expr):
    out = set()
    for n in re.findall(r"\bhoming_[a-z0-9_]+", expr):
        for suffix in ("_bucket", "_sum", "_count"):
            if n.endswith(suffix) and n[: -len(suffix)] in HIST:
                n = n[: -len(suffix)]
        out.add(n)
    return out


dash = json.loads((root / "charts/homing/dashboards/homing.json").read_text())
exprs = {f"dashboard panel {p['title']!r} {t['refId']}": t["expr"] for p in dash["panels"] for t in p.get("targets", [])}
for v in dash["templating"]["list"]:
    if v["type"] == "query":
        exprs[f"dashboard variable {v['name']}"] = v["query"]["query"]
for g in yaml.safe_load(pathlib.Path(sys.argv[2]).read_text())["groups"]:
    for r in g["rules"]:
        exprs[f"rule {r.get('record') or r.get('alert')}"] = r["expr"]
bad = [(where, n) for where, e in exprs.items() for n in sorted(names(e) - declared)]
for where, n in bad:
    print(f"metric-names: {where} queries {n}, which metrics.rs does not declare")
used = set().union(*(names(e) for w, e in exprs.items() if w.startswith("dashboard panel")))
for n in sorted(declared - used):
    print(f"metric-names: {n} is declared but no dashboard panel shows it")
    bad.append(("dashboard", n))
print(f"metric-names: {len(exprs)} queries use {len(set().union(*map(names, exprs.values())))} names, all declared" if not bad else "")
sys.exit(1 if bad else 0)
