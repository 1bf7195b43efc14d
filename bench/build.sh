#!/usr/bin/env bash
# Builds, Wharf beside Docker's classic builder in the same run (issue: build).
#   bench/build.sh [RUNS=10]
# Prints medians (hyperfine) of the whole `build` command for:
#   cold        a 10-instruction Dockerfile, --no-cache
#   unchanged   the same again, nothing changed (all cached)
#   one file    one source file changed (the COPY at step 5 and what follows re-run)
#   3 stages    a 3-stage build with two independent stages, --no-cache
# Docker runs as a private dockerd (Debian docker.io) on its own bridge, DOCKER_BUILDKIT=0 (no
# buildx here).
set -euo pipefail
# A CLI that finds no daemon must not start one of its own (it would outlive the script).
export WHARF_NO_AUTOSTART=1
cd "$(dirname "$0")/.."
RUNS=${1:-10}
command -v hyperfine >/dev/null || { echo "hyperfine is needed: apt-get install hyperfine" >&2; exit 1; }
cargo build --release -q -p wharf
WHARF=$PWD/target/release/wharf
work=$(mktemp -d /var/tmp/wharf-bench-build.XXXXXX)
cleanup() {
  [ -n "${wpid:-}" ] && kill "$wpid" 2>/dev/null || true
  [ -n "${dpid:-}" ] && kill "$dpid" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ -f "$work/wroot/nft-table" ]; then
    t=$(cat "$work/wroot/nft-table"); nft delete table ip "$t" 2>/dev/null || true
    ip link del "wh$(echo "${t#wharf_}" | cut -c1-8)" 2>/dev/null || true
  fi
  ip link del wbdocker1 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/rootfs/bin" "$work/rootfs/etc" "$work/rootfs/tmp"
cp /bin/busybox "$work/rootfs/bin/"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$work/rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$work/rootfs/etc/passwd"
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .

# The 10-instruction app: COPY of the sources at step 5.
app=$work/app; mkdir -p "$app/src"
for i in $(seq 20); do head -c 4096 /dev/urandom | base64 > "$app/src/f$i.txt"; done
cat > "$app/Dockerfile" <<'DF'
FROM bb
ENV APP=/app
WORKDIR /app
LABEL purpose=bench
COPY src/ ./src/
RUN cat src/*.txt | wc -c > size.txt
RUN ls src > list.txt
EXPOSE 8080
USER 0
CMD ["cat", "size.txt"]
DF
# Three stages, two independent.
ms=$work/ms; mkdir -p "$ms"
cat > "$ms/Dockerfile" <<'DF'
FROM bb AS a
RUN echo a > /a
FROM bb AS b
RUN echo b > /b
FROM bb
COPY --from=a /a /a
COPY --from=b /b /b
CMD ["cat", "/a", "/b"]
DF

median() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['results'][0]['median'])" "$1"; }
ms() { python3 -c "print(round($1*1000))"; }

measure() { # NAME CLI
  local name=$1 cli=$2
  $cli import "$work/rootfs.tar" bb >/dev/null
  hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$work/$name-cold.json" "$cli build -q --no-cache -t app $app" >/dev/null
  $cli build -q -t app "$app" >/dev/null
  hyperfine -N --warmup 2 --runs "$RUNS" --export-json "$work/$name-same.json" "$cli build -q -t app $app" >/dev/null
  hyperfine --warmup 1 --runs "$RUNS" --export-json "$work/$name-one.json" \
    --prepare "head -c 4096 /dev/urandom | base64 > $app/src/f7.txt" "$cli build -q -t app $app" >/dev/null
  hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$work/$name-ms.json" "$cli build -q --no-cache -t ms $ms" >/dev/null
  local c s o m
  c=$(ms "$(median "$work/$name-cold.json")"); s=$(ms "$(median "$work/$name-same.json")")
  o=$(ms "$(median "$work/$name-one.json")"); m=$(ms "$(median "$work/$name-ms.json")")
  echo "$name: cold ${c} ms, unchanged ${s} ms, one file changed ${o} ms, 3 stages ${m} ms"
  eval "${name}_c=$c ${name}_s=$s ${name}_o=$o ${name}_m=$m"
}

mkdir -p "$work/wroot"
$WHARF daemon --host "unix://$work/w.sock" --data-root "$work/wroot" > "$work/wharf.log" 2>&1 &
wpid=$!
for _ in $(seq 100); do [ -S "$work/w.sock" ] && break; sleep 0.05; done
measure wharf "$WHARF -H unix://$work/w.sock"

if command -v dockerd >/dev/null; then
  ip link add wbdocker1 type bridge 2>/dev/null || true
  ip addr add 10.252.0.1/24 dev wbdocker1 2>/dev/null || true
  ip link set wbdocker1 up
  dockerd --data-root "$work/droot" --exec-root "$work/dexec" --pidfile "$work/d.pid" \
    -H "unix://$work/d.sock" --bridge wbdocker1 --iptables=false > "$work/dockerd.log" 2>&1 &
  dpid=$!
  for _ in $(seq 200); do docker -H "unix://$work/d.sock" info >/dev/null 2>&1 && break; sleep 0.1; done
  export DOCKER_BUILDKIT=0
  measure docker "docker -H unix://$work/d.sock"
  python3 - "$wharf_c" "$docker_c" "$wharf_s" "$docker_s" "$wharf_o" "$docker_o" "$wharf_m" "$docker_m" <<'PY'
import sys
w = list(map(float, sys.argv[1::2])); d = list(map(float, sys.argv[2::2]))
for name, a, b in zip(["cold", "unchanged", "one file", "3 stages"], w, d):
    print(f"ratio {name}: docker/wharf = {b / max(a, 1):.1f}x")
PY
else
  echo "docker: dockerd not installed; no comparison"
fi
