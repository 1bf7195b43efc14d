#!/usr/bin/env bash
# Container start and footprint, Wharf beside Docker in the same run.
#   bench/run.sh [RUNS=30] [N=100]
# Prints (medians over RUNS with hyperfine):
#   run --rm true     the whole `run --rm IMAGE true` command, end to end through the API
#   CPU per run --rm  (wharf) daemon + zygote + shims + containers, from /proc/PID/stat: steady under load
#   run -d x N        per-container time of N detached starts in a row
#   per-container PSS of the shims, the shim zygote included (and Docker's containerd-shims),
#   with N running
#   daemon RSS idle and with N running
#   N concurrent `run --rm`: how many succeed, and what is left behind
# Docker runs as a private dockerd (Debian docker.io) with --bridge=none; both use no network.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-30}; N=${2:-100}
command -v hyperfine >/dev/null || { echo "hyperfine is needed: apt-get install hyperfine" >&2; exit 1; }
cargo build --release -q -p wharf
WHARF=$PWD/target/release/wharf
work=$(mktemp -d /var/tmp/wharf-bench-run.XXXXXX)
cleanup() {
  [ -n "${W:-}" ] && { $W rm -f $($W ps -aq) >/dev/null 2>&1 || true; }
  [ -n "${D:-}" ] && { $D rm -f $($D ps -aq) >/dev/null 2>&1 || true; }
  [ -n "${wpid:-}" ] && kill "$wpid" 2>/dev/null || true
  [ -n "${dpid:-}" ] && kill "$dpid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# A busybox root filesystem.
mkdir -p "$work/rootfs/bin" "$work/rootfs/etc" "$work/rootfs/tmp"
cp /bin/busybox "$work/rootfs/bin/"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$work/rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$work/rootfs/etc/passwd"
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .

median() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['results'][0]['median'])" "$1"; }
ms() { python3 -c "print(round($1*1000,1))"; }
pss_kib() { # total PSS (KiB) of the given pids
  local t=0
  for p in "$@"; do
    v=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0); t=$((t + ${v:-0}))
  done
  echo $t
}
# utime+stime of a daemon and its reaped children (clock ticks): for wharf that is daemon,
# shims and containers, a cost that does not depend on how busy the machine is.
cpu_ticks() { local t=0; for p in "$@"; do t=$((t + $(awk '{print $14+$15+$16+$17}' "/proc/$p/stat"))); done; echo $t; }
# wharf's shim zygote (a child of the daemon that forks the shims; docs/adr-0003-shim.md).
zygote_of() { pgrep -P "$1" -x wharf-zygote || true; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

measure() { # NAME CLI DAEMON_PID SHIM_PATTERN
  local name=$1 cli=$2 dpid=$3 pat=$4
  local zpid; zpid=$(zygote_of "$dpid")
  local c0; c0=$(cpu_ticks "$dpid" $zpid)
  hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$work/$name-run.json" "$cli run --rm --network none bb true" >/dev/null
  local c1; c1=$(cpu_ticks "$dpid" $zpid)
  local run; run=$(median "$work/$name-run.json")
  local idle; idle=$(rss_kib "$dpid")
  local t0 t1; t0=$(date +%s.%N)
  for i in $(seq "$N"); do $cli run -d --network none bb sleep 600 >/dev/null; done
  t1=$(date +%s.%N)
  local each; each=$(python3 -c "print(round(($t1-$t0)/$N*1000,1))")
  sleep 1
  local shims; shims=$( (pgrep -f "$pat"; [ -n "$zpid" ] && { echo "$zpid"; pgrep -P "$zpid"; }) | sort -u || true)
  local pss; pss=$(pss_kib $shims)
  local busy; busy=$(rss_kib "$dpid")
  $cli rm -f $($cli ps -aq) >/dev/null
  # N concurrent run --rm, each bounded: a hung engine (Debian's dockerd hung here twice in
  # session 18) counts as failures instead of hanging the script.
  local ok; ok=$(seq "$N" | xargs -P "$N" -I{} sh -c "timeout 120 $cli run --rm --network none bb true >/dev/null 2>&1 && echo ok" | grep -c ok || true)
  local left; left=$($cli ps -aq | wc -l)
  printf '%-7s run--rm %7s ms | run -d %6s ms each | per-container PSS %6s KiB | daemon RSS idle %6s KiB, %d running %6s KiB | %d/%d concurrent ok, %d left\n' \
    "$name" "$(ms "$run")" "$each" "$((pss / N))" "$idle" "$N" "$busy" "$ok" "$N" "$left"
  [ "$name" = wharf ] && echo "wharf   CPU per run --rm (daemon + zygote + shim + container): $(python3 -c "print(round(($c1-$c0)*1000/$(getconf CLK_TCK)/($RUNS+3),1))") ms"
  echo "$run" > "$work/$name.median"
}

"$WHARF" daemon --host "unix://$work/w.sock" --data-root "$work/wharf-root" >"$work/wharf.log" 2>&1 &
wpid=$!
export WHARF_NO_AUTOSTART=1
W="$WHARF -H unix://$work/w.sock"
for _ in $(seq 100); do $W version >/dev/null 2>&1 && break; sleep 0.05; done
$W import "$work/rootfs.tar" bb >/dev/null
measure wharf "$W" "$wpid" "wharf-shim|shim $work/wharf-root"
left_mounts=$(grep -c "$work/wharf-root/containers" /proc/self/mountinfo || true)
echo "wharf leftovers after all removals: $left_mounts mounts"

if command -v dockerd >/dev/null; then
  dockerd --data-root "$work/docker-root" --exec-root "$work/docker-exec" -H "unix://$work/d.sock" \
    --pidfile "$work/docker.pid" --bridge=none --iptables=false --ip6tables=false \
    --containerd-namespace wharf-bench-run >"$work/docker.log" 2>&1 &
  dpid=$!
  D="docker -H unix://$work/d.sock"
  for _ in $(seq 150); do $D version >/dev/null 2>&1 && break; sleep 0.2; done
  $D import "$work/rootfs.tar" bb >/dev/null
  measure docker "$D --log-level error" "$dpid" "containerd-shim-runc-v2.*wharf-bench-run"
  printf 'ratio run --rm (docker / wharf): %.1fx\n' "$(python3 -c "print($(cat "$work/docker.median")/$(cat "$work/wharf.median"))")"
else
  echo "docker: dockerd not installed (apt-get install docker.io) - no comparison"
fi
