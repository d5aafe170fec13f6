#!/usr/bin/env python3
"""The values table of charts/homing/README.md, generated from the `# --` comments in values.yaml.

    values-table.py            print the table
    values-table.py --write    replace the table between the markers in the chart README
    values-table.py --check    exit 1 when the README's table differs from values.yaml (CI)

A comment `# -- (HOMING_X) text` documents the key on the next line; `(HOMING_X)` names the
environment variable of `homing worker` the value becomes, one to one. Every leaf value must be
documented (a map documented as a whole counts for its keys). Needs PyYAML.
"""
import json
import pathlib
import re
import sys

import yaml

CHART = pathlib.Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- values-table:begin -->", "<!-- values-table:end -->"
ENV = re.compile(r"^\(([A-Z][A-Z0-9_]*)\)\s*")


def documented(lines):
    """(path, env, description) for each `# --` comment, in file order."""
    stack, pending, out = [], None, []
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("# --"):
            pending = stripped[4:].strip()
            continue
        if not stripped or stripped.startswith("#") or stripped.startswith("- "):
            continue
        m = re.match(r"^( *)([A-Za-z_][A-Za-z0-9_]*):", line)
        if not m:
            continue
        indent = len(m.group(1))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, m.group(2)))
        if pending is not None:
            path = ".".join(k for _, k in stack)
            env = ENV.match(pending)
            out.append((path, env.group(1) if env else "", ENV.sub("", pending)))
            pending = None
    return out


def lookup(values, path):
    for key in path.split("."):
        values = values[key]
    return values


def leaves(values, prefix=""):
    for k, v in values.items():
        path = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            yield from leaves(v, path + ".")
        else:
            yield path


def table():
    text = (CHART / "values.yaml").read_text()
    values = yaml.safe_load(text)
    docs = documented(text.splitlines())
    covered = {p for p, _, _ in docs}
    undocumented = [p for p in leaves(values) if not any(p == c or p.startswith(c + ".") for c in covered)]
    if undocumented:
        sys.exit(f"values.yaml: no `# --` comment for {', '.join(undocumented)}")
    rows = ["| value | environment variable | default | description |", "|---|---|---|---|"]
    for path, env, desc in docs:
        default = json.dumps(lookup(values, path), separators=(",", ":"))
        env_cell = f"`{env}`" if env else ""
        desc = desc.replace("|", "\\|")
        rows.append(f"| `{path}` | {env_cell} | `{default}` | {desc} |")
    return "\n".join(rows) + "\n", docs


def splice(readme, body):
    start, end = readme.index(BEGIN) + len(BEGIN), readme.index(END)
    return readme[:start] + "\n" + body + readme[end:]


def main():
    body, _ = table()
    readme_path = CHART / "README.md"
    if len(sys.argv) == 1:
        print(body, end="")
        return
    readme = readme_path.read_text()
    new = splice(readme, body)
    if sys.argv[1] == "--write":
        readme_path.write_text(new)
    elif sys.argv[1] == "--check":
        if new != readme:
            sys.exit("charts/homing/README.md: the values table has drifted from values.yaml; "
                     "run `python3 charts/homing/scripts/values-table.py --write`")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
