#!/usr/bin/env bash
# Image load/save throughput, Wharf beside Docker in the same run.
#   bench/images.sh [TOTAL_MB=200] [RUNS=5]
# Makes a ~TOTAL_MB, 4-layer, 20k-file image with gzip layers, then times (hyperfine, medians):
#   load: archive -> stored + unpacked image (fresh each run); save: image -> docker-archive.
# MB/s are of the image's uncompressed size. Docker runs as a private dockerd (Debian docker.io)
# on its own socket and data root, when installed.
set -euo pipefail
cd "$(dirname "$0")/.."
MB=${1:-200}; RUNS=${2:-5}
command -v hyperfine >/dev/null || { echo "hyperfine is needed: apt-get install hyperfine" >&2; exit 1; }
cargo build --release -q -p wharf
WHARF=$PWD/target/release/wharf
work=$(mktemp -d /var/tmp/wharf-bench.XXXXXX)
cleanup() {
  [ -n "${wpid:-}" ] && kill "$wpid" 2>/dev/null || true
  [ -n "${dpid:-}" ] && kill "$dpid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "generating a ${MB} MB image..."
bytes=$(python3 bench/gen-image.py "$work/img.tar" "$MB" 4 5000)
mb=$(python3 -c "print($bytes/1e6)")
echo "image: $(python3 -c "print(round($bytes/1e6,1))") MB uncompressed, archive $(du -m "$work/img.tar" | cut -f1) MB (gzip layers)"

"$WHARF" daemon --host "unix://$work/wharf.sock" --data-root "$work/wharf-root" >"$work/wharf.log" 2>&1 &
wpid=$!
export WHARF_NO_AUTOSTART=1
W="$WHARF -H unix://$work/wharf.sock"
for _ in $(seq 100); do $W version >/dev/null 2>&1 && break; sleep 0.1; done

median() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['results'][0]['median'])" "$1"; }
rate() { python3 -c "print(round($mb/$1,1))"; }

hyperfine -N --runs "$RUNS" --prepare "sh -c '$W rmi -f bench/big:1 >/dev/null 2>&1; true'" --export-json "$work/wl.json" "$W load -q -i $work/img.tar" >/dev/null
$W load -q -i "$work/img.tar" >/dev/null
hyperfine -N --runs "$RUNS" --export-json "$work/ws.json" "$W save -o $work/out-w.tar bench/big:1" >/dev/null
wl=$(median "$work/wl.json"); ws=$(median "$work/ws.json")
printf '%-8s %-6s %10s %10s\n' engine op median_s MB/s
printf '%-8s %-6s %10.3f %10s\n' wharf load "$wl" "$(rate "$wl")"
printf '%-8s %-6s %10.3f %10s\n' wharf save "$ws" "$(rate "$ws")"

if command -v dockerd >/dev/null; then
  dockerd --data-root "$work/docker-root" --exec-root "$work/docker-exec" -H "unix://$work/docker.sock" \
    --pidfile "$work/docker.pid" --bridge=none --iptables=false --ip6tables=false \
    --containerd-namespace wharf-bench >"$work/docker.log" 2>&1 &
  dpid=$!
  D="docker -H unix://$work/docker.sock"
  for _ in $(seq 150); do $D version >/dev/null 2>&1 && break; sleep 0.2; done
  hyperfine -N --runs "$RUNS" --prepare "sh -c '$D rmi -f bench/big:1 >/dev/null 2>&1; true'" --export-json "$work/dl.json" "$D load -q -i $work/img.tar" >/dev/null
  $D load -q -i "$work/img.tar" >/dev/null
  hyperfine -N --runs "$RUNS" --export-json "$work/ds.json" "$D save -o $work/out-d.tar bench/big:1" >/dev/null
  dl=$(median "$work/dl.json"); ds=$(median "$work/ds.json")
  printf '%-8s %-6s %10.3f %10s\n' docker load "$dl" "$(rate "$dl")"
  printf '%-8s %-6s %10.3f %10s\n' docker save "$ds" "$(rate "$ds")"
  printf 'ratio (wharf speed / docker speed): load %.2fx, save %.2fx\n' \
    "$(python3 -c "print($dl/$wl)")" "$(python3 -c "print($ds/$ws)")"
else
  echo "docker: dockerd not installed (apt-get install docker.io) - no comparison"
fi
