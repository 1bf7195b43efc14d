#!/usr/bin/env bash
# Compose, Wharf beside Docker in the same run (issue: compose).
#   bench/compose.sh [RUNS=10]
# A 10-service project (busybox `sleep`, no build, the project's default network):
#   up -d      from nothing (network + 10 containers created and started)
#   down -t 0  back to nothing
# Wharf: `wharf compose`. Docker: Debian's `docker-compose` (1.29) on a private dockerd (Debian
# docker.io) with its own bridge. Medians of RUNS runs (hyperfine). Everything stays local.
set -euo pipefail
# A CLI that finds no daemon must not start one of its own (it would outlive the script).
export WHARF_NO_AUTOSTART=1
cd "$(dirname "$0")/.."
RUNS=${1:-10}
for t in hyperfine nft; do
  command -v $t >/dev/null || { echo "$t is needed (scripts/install-deps.sh installs it)" >&2; exit 1; }
done
cargo build --release -q -p wharf
WHARF=$PWD/target/release/wharf
work=$(mktemp -d /var/tmp/wharf-bench-compose.XXXXXX)
cleanup() {
  [ -n "${W:-}" ] && { (cd "$work/proj" && $W compose down -t 0 >/dev/null 2>&1) || true; }
  [ -n "${D:-}" ] && { (cd "$work/proj" && DOCKER_HOST=unix://$work/d.sock docker-compose down -t 0 >/dev/null 2>&1) || true; }
  [ -n "${wpid:-}" ] && kill "$wpid" 2>/dev/null || true
  [ -n "${dpid:-}" ] && kill "$dpid" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ -f "$work/wroot/nft-table" ]; then
    t=$(cat "$work/wroot/nft-table"); nft delete table ip "$t" 2>/dev/null || true
    ip link del "wh$(echo "${t#wharf_}" | cut -c1-8)" 2>/dev/null || true
  fi
  ip link del wbdocker0 2>/dev/null || true
  [ -n "${fwd_policy:-}" ] && iptables -P FORWARD "$fwd_policy" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/rootfs/bin" "$work/rootfs/etc" "$work/proj"
cp /bin/busybox "$work/rootfs/bin/"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$work/rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$work/rootfs/etc/passwd"
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
{
  echo 'version: "3.8"'
  echo 'services:'
  for i in $(seq 1 10); do
    printf '  s%s:\n    image: benchbox:1\n    command: ["sleep", "3600"]\n' "$i"
  done
} > "$work/proj/docker-compose.yml"

median() { python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['results'][0]['median']*1000))" "$1"; }

measure() { # NAME UP DOWN
  local name=$1 up=$2 down=$3
  (cd "$work/proj" && eval "$down" >/dev/null 2>&1 || true)
  (cd "$work/proj" && hyperfine -N --runs "$RUNS" --warmup 1 --prepare "$down" \
     --export-json "$work/$name-up.json" "$up" >/dev/null)
  (cd "$work/proj" && hyperfine -N --runs "$RUNS" --warmup 1 --prepare "$up" \
     --export-json "$work/$name-down.json" "$down" >/dev/null)
  (cd "$work/proj" && eval "$down" >/dev/null 2>&1 || true)
  local u d; u=$(median "$work/$name-up.json"); d=$(median "$work/$name-down.json")
  echo "$name 10 services: up -d ${u} ms, down -t 0 ${d} ms"
  eval "${name}_up=$u ${name}_down=$d"
}

mkdir -p "$work/wroot"
$WHARF daemon --host "unix://$work/w.sock" --data-root "$work/wroot" > "$work/wharf.log" 2>&1 &
wpid=$!
for _ in $(seq 100); do [ -S "$work/w.sock" ] && break; sleep 0.05; done
W="$WHARF -H unix://$work/w.sock"
$W import "$work/rootfs.tar" benchbox:1 >/dev/null
measure wharf "$W compose up -d" "$W compose down -t 0"

if command -v dockerd >/dev/null && command -v docker-compose >/dev/null; then
  fwd_policy=$(iptables -S FORWARD 2>/dev/null | awk '$1=="-P" {print $3}' || true)
  ip link add wbdocker0 type bridge 2>/dev/null || true
  ip addr add 10.251.0.1/24 dev wbdocker0 2>/dev/null || true
  ip link set wbdocker0 up
  dockerd --data-root "$work/droot" --exec-root "$work/dexec" --pidfile "$work/d.pid" \
    -H "unix://$work/d.sock" --bridge wbdocker0 > "$work/dockerd.log" 2>&1 &
  dpid=$!
  for _ in $(seq 200); do [ -S "$work/d.sock" ] && docker -H "unix://$work/d.sock" info >/dev/null 2>&1 && break; sleep 0.1; done
  D="docker -H unix://$work/d.sock"
  $D import "$work/rootfs.tar" benchbox:1 >/dev/null
  export DOCKER_HOST=unix://$work/d.sock
  measure docker "docker-compose up -d" "docker-compose down -t 0"
  unset DOCKER_HOST
  echo "ratio up -d docker/wharf: $(python3 -c "print(round($docker_up/max($wharf_up,1),1))")x faster"
  echo "ratio down docker/wharf: $(python3 -c "print(round($docker_down/max($wharf_down,1),1))")x faster"
else
  echo "docker: dockerd or docker-compose not installed; no comparison"
fi
