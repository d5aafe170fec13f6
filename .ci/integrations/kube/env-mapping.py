"""Values ↔ environment variables, one to one, against the binary and the rendered chart.

Every `(HOMING_X)` a value names in values.yaml must be read by `homing` (an `env = "..."` in
crates/homing-cli/src), every variable the binary reads must have a value, and every variable
a rendered worker or hook Job sets must be one of them. Variables plumbed for work that has not
landed yet are listed in PENDING and reported, not failed.
usage: env-mapping.py ROOT RENDERED.yaml...
"""
import pathlib
import re
import sys

import yaml

# Variables the chart sets before the binary reads them; each is reported, not failed.
# HOMING_SERVE_PARTITIONS: `homing worker --serve-partitions`, on its way (partitions, #13).
PENDING: set = set()
# Read by the logging library, not a flag.
LIBRARY = {"RUST_LOG"}

root = pathlib.Path(sys.argv[1])
values_env = set(re.findall(r"# -- \(([A-Z][A-Z0-9_]*)\)", (root / "charts/homing/values.yaml").read_text()))
binary_env = set()
for f in (root / "crates/homing-cli/src").glob("*.rs"):
    binary_env |= set(re.findall(r'env = "([A-Z][A-Z0-9_]*)"', f.read_text()))
problems = []
for name in sorted(values_env - binary_env - PENDING - LIBRARY):
    problems.append(f"values.yaml names {name}, which homing does not read")
for name in sorted(binary_env - values_env):
    problems.append(f"homing reads {name}, which no chart value sets")
for path in sys.argv[2:]:
    for doc in yaml.safe_load_all(pathlib.Path(path).read_text()):
        if not doc or doc.get("kind") not in ("Deployment", "Job"):
            continue
        pod = doc["spec"]["template"]["spec"]
        for c in pod.get("containers", []):
            if c["name"] not in ("worker", "queue-init"):
                continue
            for e in c.get("env", []):
                if e["name"] not in values_env | binary_env | LIBRARY:
                    problems.append(f"{path}: {doc['kind']} container {c['name']} sets {e['name']}, which no value documents")
for p in problems:
    print(f"env-mapping: {p}")
pending = sorted(PENDING & values_env - binary_env)
if pending:
    print(f"env-mapping: plumbed, not yet read by homing: {', '.join(pending)}")
print(f"env-mapping: {len(values_env & binary_env)} variables map one to one")
sys.exit(1 if problems else 0)
