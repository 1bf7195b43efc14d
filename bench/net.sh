#!/usr/bin/env bash
# Networking, Wharf beside Docker in the same run (issue: networks).
#   bench/net.sh [SECONDS=10] [CONNECTIONS=50] [RUNS=20]
# Prints the same server with no container first (the ceiling on this machine), then for each
# engine:
#   wrk through a published port (busybox httpd, a small page): req/s, p50, p99
#   bulk: a 100 MiB file through the published port (curl), MB/s (median of 5)
#   start: `run --rm IMAGE true` on the default bridge and with --network none (medians), and
#          what the bridge adds
# Docker runs as a private dockerd (Debian docker.io) with its own bridge (10.251.0.1/24) and
# its default userland proxy. Everything stays on this machine (loopback).
set -euo pipefail
# A CLI that finds no daemon must not start one of its own (it would outlive the script).
export WHARF_NO_AUTOSTART=1
cd "$(dirname "$0")/.."
SECS=${1:-10}; CONNS=${2:-50}; RUNS=${3:-20}
for t in wrk curl hyperfine nft; do
  command -v $t >/dev/null || { echo "$t is needed (scripts/install-deps.sh installs it)" >&2; exit 1; }
done
cargo build --release -q -p wharf
WHARF=$PWD/target/release/wharf
work=$(mktemp -d /var/tmp/wharf-bench-net.XXXXXX)
cleanup() {
  [ -n "${W:-}" ] && { $W rm -f $($W ps -aq) >/dev/null 2>&1 || true; }
  [ -n "${D:-}" ] && { $D rm -f $($D ps -aq) >/dev/null 2>&1 || true; }
  [ -n "${wpid:-}" ] && kill "$wpid" 2>/dev/null || true
  [ -n "${dpid:-}" ] && kill "$dpid" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ -f "$work/wroot/nft-table" ]; then
    t=$(cat "$work/wroot/nft-table"); nft delete table ip "$t" 2>/dev/null || true
    ip link del "wh${t#wharf_}" 2>/dev/null || ip link del "wh$(echo "${t#wharf_}" | cut -c1-8)" 2>/dev/null || true
  fi
  ip link del wbdocker0 2>/dev/null || true
  # dockerd sets the FORWARD policy to DROP, which would cut containers on other bridges off
  # each other (br_netfilter): put back what was there.
  [ -n "${fwd_policy:-}" ] && iptables -P FORWARD "$fwd_policy" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# busybox with a small page and a 100 MiB file.
mkdir -p "$work/rootfs/bin" "$work/rootfs/www" "$work/rootfs/etc"
cp /bin/busybox "$work/rootfs/bin/"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$work/rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$work/rootfs/etc/passwd"
head -c 300 /dev/zero | tr '\0' 'x' > "$work/rootfs/www/index.html"
head -c $((100 * 1024 * 1024)) /dev/urandom > "$work/rootfs/www/big"
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .

median() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['results'][0]['median'])" "$1"; }
ms() { python3 -c "print(round($1*1000,1))"; }

measure() { # NAME CLI PORT
  local name=$1 cli=$2 port=$3
  $cli import "$work/rootfs.tar" bb >/dev/null
  $cli run -d --name web -p "$port:80" bb httpd -f -p 80 -h /www >/dev/null
  for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
  wrk -t2 -c"$CONNS" -d"${SECS}s" --latency "http://127.0.0.1:$port/" > "$work/$name-wrk.txt" 2>&1 || true
  local rps p50 p99
  rps=$(awk '/^Requests\/sec/ {print $2}' "$work/$name-wrk.txt")
  p50=$(awk '$1=="50%" {print $2}' "$work/$name-wrk.txt")
  p99=$(awk '$1=="99%" {print $2}' "$work/$name-wrk.txt")
  local speeds=()
  for _ in 1 2 3 4 5; do
    speeds+=("$(curl -s -o /dev/null -w '%{speed_download}' "http://127.0.0.1:$port/big")")
  done
  local mbs; mbs=$(python3 -c "import statistics,sys; print(round(statistics.median(map(float,sys.argv[1:]))/1e6))" "${speeds[@]}")
  $cli rm -f web >/dev/null
  hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$work/$name-bridge.json" "$cli run --rm bb true" >/dev/null
  hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$work/$name-none.json" "$cli run --rm --network none bb true" >/dev/null
  local br none
  br=$(ms "$(median "$work/$name-bridge.json")"); none=$(ms "$(median "$work/$name-none.json")")
  echo "$name wrk ${SECS}s c=$CONNS: ${rps} req/s  p50 ${p50}  p99 ${p99}"
  echo "$name bulk 100 MiB: ${mbs} MB/s"
  echo "$name start: bridge ${br} ms, none ${none} ms, bridge adds $(python3 -c "print(round($br-$none,1))") ms"
  eval "${name}_rps=$rps ${name}_mbs=$mbs"
}

# The ceiling: the same server and load with no container and no engine (host loopback).
(cd "$work/rootfs" && busybox httpd -f -p 127.0.0.1:18479 -h "$work/rootfs/www") &
hpid=$!
sleep 0.3
wrk -t2 -c"$CONNS" -d"${SECS}s" --latency "http://127.0.0.1:18479/" > "$work/host-wrk.txt" 2>&1 || true
hs=()
for _ in 1 2 3 4 5; do hs+=("$(curl -s -o /dev/null -w '%{speed_download}' "http://127.0.0.1:18479/big")"); done
kill $hpid 2>/dev/null || true
echo "host (no container) wrk ${SECS}s c=$CONNS: $(awk '/^Requests\/sec/ {print $2}' "$work/host-wrk.txt") req/s  p50 $(awk '$1=="50%" {print $2}' "$work/host-wrk.txt")  p99 $(awk '$1=="99%" {print $2}' "$work/host-wrk.txt")"
echo "host (no container) bulk 100 MiB: $(python3 -c "import statistics,sys; print(round(statistics.median(map(float,sys.argv[1:]))/1e6))" "${hs[@]}") MB/s"

mkdir -p "$work/wroot"
$WHARF daemon --host "unix://$work/w.sock" --data-root "$work/wroot" > "$work/wharf.log" 2>&1 &
wpid=$!
for _ in $(seq 100); do [ -S "$work/w.sock" ] && break; sleep 0.05; done
W="$WHARF -H unix://$work/w.sock"
measure wharf "$W" 18480

if command -v dockerd >/dev/null; then
  fwd_policy=$(iptables -S FORWARD 2>/dev/null | awk '$1=="-P" {print $3}' || true)
  ip link add wbdocker0 type bridge 2>/dev/null || true
  ip addr add 10.251.0.1/24 dev wbdocker0 2>/dev/null || true
  ip link set wbdocker0 up
  dockerd --data-root "$work/droot" --exec-root "$work/dexec" --pidfile "$work/d.pid" \
    -H "unix://$work/d.sock" --bridge wbdocker0 > "$work/dockerd.log" 2>&1 &
  dpid=$!
  for _ in $(seq 200); do [ -S "$work/d.sock" ] && docker -H "unix://$work/d.sock" info >/dev/null 2>&1 && break; sleep 0.1; done
  D="docker -H unix://$work/d.sock"
  measure docker "$D" 18481
  echo "ratio req/s wharf/docker: $(python3 -c "print(round($wharf_rps/$docker_rps,2))")"
  echo "ratio bulk wharf/docker: $(python3 -c "print(round($wharf_mbs/max($docker_mbs,1),2))")"
else
  echo "docker: dockerd not installed; no comparison"
fi
