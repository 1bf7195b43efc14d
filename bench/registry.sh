#!/usr/bin/env bash
# Registries, in one run (issue: registries):
#   bench/registry.sh [MB=500] [LAYERS=8] [RUNS=3]
#   push (skopeo copy of a docker-archive) into Wharf's registry and into Debian's docker-registry
#     (distribution 2.8): server throughput, MB/s
#   pull-to-runnable from distribution: `wharf pull` vs `docker pull` (a private dockerd; localhost
#     registries are insecure for both), MB/s of the compressed image, medians of RUNS
#   pull from Wharf's own registry with `wharf pull`
#   push with the client: `wharf push` vs `docker push` of the loaded image, each run into a
#     fresh distribution 2.8 (so every layer is uploaded); wharf's first push also compresses
#     the layers (then cached: the "warm" figure), docker compresses on every push
# Everything on 127.0.0.1. WHARF=/path/to/wharf skips the release build.
set -euo pipefail
# A CLI that finds no daemon must not start one of its own (it would outlive the script).
export WHARF_NO_AUTOSTART=1
cd "$(dirname "$0")/.."
MB=${1:-500}; LAYERS=${2:-8}; RUNS=${3:-3}
for t in skopeo docker-registry; do
  command -v $t >/dev/null || { echo "$t is needed (scripts/install-deps.sh installs it)" >&2; exit 1; }
done
if [ -z "${WHARF:-}" ]; then
  cargo build --release -q -p wharf
  WHARF=$PWD/target/release/wharf
fi
work=$(mktemp -d /var/tmp/wharf-bench-registry.XXXXXX)
pids=()
drop_root() { # a stopped daemon's data root, its nft table and bridge
  if [ -f "$1/nft-table" ]; then
    local t; t=$(cat "$1/nft-table"); nft delete table ip "$t" 2>/dev/null || true
    ip link del "wh$(echo "${t#wharf_}" | cut -c1-8)" 2>/dev/null || true
  fi
  rm -rf "$1"
}
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for r in "$work"/w*root; do drop_root "$r"; done
  ip link del wbdocker2 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
# Every timed run starts with nothing dirty in the page cache: a pull ends with a syncfs of its
# data root (ADR-0002), which also writes back whatever the runs before it left unwritten
# (distribution never fsyncs its blobs); without this, a run pays for its predecessors.
settle() { sync; }
mbs() { python3 -c "print(round($1/1e6/($3-$2)))"; }
median() { python3 -c "import statistics,sys; print(round(statistics.median(map(float,sys.argv[1:]))))" "$@"; }

echo "generating a ${MB} MB image of ${LAYERS} layers…"
python3 bench/gen-image.py "$work/img.tar" "$MB" "$LAYERS" 2000 >/dev/null
bytes=$(stat -c %s "$work/img.tar")

# The two registries.
dport=$(free_port)
cat > "$work/dist.yml" <<EOF
version: 0.1
storage:
  filesystem:
    rootdirectory: $work/dist
http:
  addr: 127.0.0.1:$dport
log:
  level: error
EOF
docker-registry serve "$work/dist.yml" > "$work/dist.log" 2>&1 & pids+=($!)
wport=$(free_port)
$WHARF registry serve --addr "127.0.0.1:$wport" --root "$work/wreg" > "$work/wreg.log" 2>&1 & pids+=($!)
sleep 1

push() { # PORT NAME
  settle
  local t0 t1; t0=$(now)
  skopeo copy -q --dest-tls-verify=false "docker-archive:$work/img.tar" "docker://127.0.0.1:$1/bench/$2:1" >/dev/null
  t1=$(now); mbs "$bytes" "$t0" "$t1"
}
wpush=(); dpush=()
for i in $(seq "$RUNS"); do
  wpush+=("$(push "$wport" "w$i")"); dpush+=("$(push "$dport" "d$i")")
done
echo "push (skopeo) into wharf registry: $(median "${wpush[@]}") MB/s; into distribution 2.8: $(median "${dpush[@]}") MB/s"

pull_wharf() { # PORT NAME
  local root="$work/w$RANDOM""root"; mkdir -p "$root"
  $WHARF daemon --host "unix://$root.sock" --data-root "$root" > "$root.log" 2>&1 & local p=$!
  for _ in $(seq 100); do [ -S "$root.sock" ] && break; sleep 0.05; done
  settle
  local t0 t1; t0=$(now)
  $WHARF -H "unix://$root.sock" pull -q "127.0.0.1:$1/bench/$2:1" >/dev/null
  t1=$(now)
  kill $p; wait $p 2>/dev/null || true
  drop_root "$root"
  mbs "$bytes" "$t0" "$t1"
}
start_dockerd() { # NAME: a private dockerd on $work/<NAME>.sock with its own roots; sets dockerd_pid
  ip link add wbdocker2 type bridge 2>/dev/null || true
  ip addr add 10.253.0.1/24 dev wbdocker2 2>/dev/null || true
  ip link set wbdocker2 up
  dockerd --data-root "$work/$1root" --exec-root "$work/$1exec" --pidfile "$work/$1.pid" \
    -H "unix://$work/$1.sock" --bridge wbdocker2 --iptables=false > "$work/dockerd-$1.log" 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 200); do docker -H "unix://$work/$1.sock" info >/dev/null 2>&1 && break; sleep 0.1; done
}
pull_docker() { # RUN: a fresh dockerd on its own data root pulls from distribution
  local i=$1 droot="$work/d$1root" p t0 t1
  start_dockerd "d$i"; p=$dockerd_pid
  settle
  t0=$(now)
  docker -H "unix://$work/d$i.sock" pull -q "127.0.0.1:$dport/bench/d1:1" >/dev/null
  t1=$(now)
  kill $p; wait $p 2>/dev/null || true
  rm -rf "$droot" "$work/d${i}exec"
  mbs "$bytes" "$t0" "$t1"
}
# The pulls of both clients are interleaved, run by run, so that both see the same machine
# (this 2-core machine's disk and CPU are shared: figures taken minutes apart differed 3x).
have_docker=$(command -v dockerd >/dev/null && echo 1 || true)
wp=(); wpw=(); dp=(); pairs=()
for i in $(seq "$RUNS"); do # alternating who goes first
  if [ $((i % 2)) = 1 ]; then
    a=$(pull_wharf "$dport" d1); [ -n "$have_docker" ] && b=$(pull_docker "$i"); wpw+=("$(pull_wharf "$wport" w1)")
  else
    wpw+=("$(pull_wharf "$wport" w1)"); [ -n "$have_docker" ] && b=$(pull_docker "$i"); a=$(pull_wharf "$dport" d1)
  fi
  wp+=("$a")
  if [ -n "$have_docker" ]; then dp+=("$b"); pairs+=("$(python3 -c "print(round($a/max($b,1),2))")"); fi
done
echo "pull (wharf client) from distribution: $(median "${wp[@]}") MB/s; from wharf registry: $(median "${wpw[@]}") MB/s"

# A fresh distribution registry per push run: nothing to skip or mount.
new_dist() { # prints its port
  local port; port=$(free_port)
  mkdir -p "$work/pd$port"
  printf 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\nlog:\n  level: error\n' \
    "$work/pd$port" "$port" > "$work/pd$port.yml"
  docker-registry serve "$work/pd$port.yml" > "$work/pd$port.log" 2>&1 &
  echo "$port $!"
}
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return; sleep 0.05; done; }

wroot="$work/wpushroot"; mkdir -p "$wroot"
$WHARF daemon --host "unix://$wroot.sock" --data-root "$wroot" > "$wroot.log" 2>&1 & pids+=($!)
for _ in $(seq 100); do [ -S "$wroot.sock" ] && break; sleep 0.05; done
loaded=$($WHARF -H "unix://$wroot.sock" load -q -i "$work/img.tar" | sed -n 's/^Loaded image: //p' | head -1)
wpc=(); wpw=()
for i in $(seq "$RUNS"); do
  read -r port rp < <(new_dist); pids+=("$rp"); wait_port "$port"
  $WHARF -H "unix://$wroot.sock" tag "$loaded" "127.0.0.1:$port/bench/push:1"
  settle
  t0=$(now)
  $WHARF -H "unix://$wroot.sock" push -q "127.0.0.1:$port/bench/push:1" >/dev/null
  t1=$(now)
  if [ "$i" = 1 ]; then wpc+=("$(mbs "$bytes" "$t0" "$t1")"); else wpw+=("$(mbs "$bytes" "$t0" "$t1")"); fi
  kill "$rp" 2>/dev/null || true
done
echo "push (wharf client) into distribution: first (compressing) $(median "${wpc[@]}") MB/s; warm (cached compression) $([ ${#wpw[@]} -gt 0 ] && median "${wpw[@]}" || echo n/a) MB/s"

if command -v dockerd >/dev/null; then
  dsock="$work/dpush.sock"
  start_dockerd dpush; dpid=$dockerd_pid; pids+=("$dpid")
  dl=$(docker -H "unix://$dsock" load -q -i "$work/img.tar" | sed -n 's/^Loaded image: //p' | head -1)
  dpu=()
  for i in $(seq "$RUNS"); do
    read -r port rp < <(new_dist); pids+=("$rp"); wait_port "$port"
    docker -H "unix://$dsock" tag "$dl" "127.0.0.1:$port/bench/push:1"
    settle
    t0=$(now)
    docker -H "unix://$dsock" push -q "127.0.0.1:$port/bench/push:1" >/dev/null
    t1=$(now)
    dpu+=("$(mbs "$bytes" "$t0" "$t1")")
    kill "$rp" 2>/dev/null || true
  done
  kill "$dpid"; wait "$dpid" 2>/dev/null || true
  echo "push (docker client) into distribution: $(median "${dpu[@]}") MB/s"
  echo "ratio push wharf/docker: first $(python3 -c "print(round($(median "${wpc[@]}")/max($(median "${dpu[@]}"),1),2))")$([ ${#wpw[@]} -gt 0 ] && echo ", warm $(python3 -c "print(round($(median "${wpw[@]}")/max($(median "${dpu[@]}"),1),2))")")"
else
  echo "docker: dockerd not installed; no push comparison"
fi

if [ -n "$have_docker" ]; then
  echo "pull (docker) from distribution: $(median "${dp[@]}") MB/s"
  echo "ratio pull wharf/docker: $(python3 -c "print(round($(median "${wp[@]}")/max($(median "${dp[@]}"),1),2))") (run by run: ${pairs[*]})"
else
  echo "docker: dockerd not installed; no comparison"
fi
