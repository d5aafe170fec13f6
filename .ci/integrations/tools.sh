# Sourced by every integrations check: finds or installs the tools the lane needs, each in a
# place of its own under target/integrations (never system pip, never a global npm), and stops
# with one clear line when a tool cannot be had.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LANE="$ROOT/target/integrations"
mkdir -p "$LANE"

# One line, then exit 1: what is missing and how to get it.
missing() {
  echo "integrations: missing $1: $2" >&2
  exit 1
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
    missing "$*" "run as root or install it yourself"
  fi
}

# Debian packages by command name: need_apt COMMAND PACKAGE
need_apt() {
  command -v "$1" >/dev/null 2>&1 && return 0
  command -v apt-get >/dev/null 2>&1 || missing "$1" "install the $2 package (no apt-get here)"
  if [ ! -f "$LANE/.apt-updated" ]; then
    as_root apt-get update -qq >/dev/null || missing "$1" "apt-get update failed"
    touch "$LANE/.apt-updated"
  fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$2" >/dev/null \
    || missing "$1" "apt-get install $2 failed"
  command -v "$1" >/dev/null 2>&1 || missing "$1" "package $2 did not provide it"
}

# The lane's Python venv with the given PyPI packages; exports HOMING_PYTHON.
need_python() {
  command -v python3 >/dev/null 2>&1 || missing python3 "install Python 3.9 or later"
  local venv="$LANE/venv"
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" || missing "python3 venv" "install python3-venv"
  fi
  if [ "$#" -gt 0 ]; then
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "$@" \
      || missing "PyPI packages $*" "pip could not install them"
  fi
  export HOMING_PYTHON="$venv/bin/python"
  export PATH="$venv/bin:$PATH"
}

# npm packages in the lane's own folder; exports NODE_PATH and HOMING_NODE.
need_node() {
  command -v node >/dev/null 2>&1 || missing node "install Node.js 18 or later"
  command -v npm >/dev/null 2>&1 || missing npm "install npm"
  local dir="$LANE/node"
  mkdir -p "$dir"
  [ -f "$dir/package.json" ] || echo '{"name":"homing-integrations","private":true}' >"$dir/package.json"
  if [ "$#" -gt 0 ]; then
    (cd "$dir" && npm install --silent --no-audit --no-fund "$@" >/dev/null) \
      || missing "npm packages $*" "npm could not install them"
  fi
  export NODE_PATH="$dir/node_modules"
  export HOMING_NODE="$(command -v node)"
}
