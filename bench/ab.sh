#!/usr/bin/env bash
# Two wharf binaries side by side: each gets its own private daemon, and `run --rm bb true`
# (or the given wharf subcommand) runs ROUNDS × RUNS times, the two alternating round by
# round so that the machine's drift hits both alike. Prints medians over all runs.
#   bench/ab.sh OLD_WHARF NEW_WHARF [ROUNDS=10] [RUNS=10] [-- SUBCOMMAND...]
# Run it in both orders (OLD NEW, then NEW OLD) and compare the pairs: on the VM of session
# 15 the B daemon was 0.5–1 ms faster than the A daemon with the very same binary on both
# sides (alternating which side goes first within a round did not remove it).
# e.g. bench/ab.sh /tmp/wharf-before target/release/wharf 10 10
#      bench/ab.sh /tmp/wharf-before target/release/wharf 8 10 -- exec ab true
#      (`exec ab …` runs in the container ab.sh starts in each daemon, running `sleep 600`)
set -euo pipefail
# A CLI that finds no daemon must not start one of its own (it would outlive the script).
export WHARF_NO_AUTOSTART=1
A=$(realpath "$1"); B=$(realpath "$2"); ROUNDS=${3:-10}; RUNS=${4:-10}
shift $(( $# < 4 ? $# : 4 ))
[ "${1:-}" = "--" ] && shift
SUB=("$@"); [ ${#SUB[@]} -gt 0 ] || SUB=(run --rm --network none bb true)
command -v hyperfine >/dev/null || { echo "hyperfine is needed: apt-get install hyperfine" >&2; exit 1; }
work=$(mktemp -d /var/tmp/wharf-bench-ab.XXXXXX)
pids=()
cleanup() {
  for x in A B; do "${!x}" -H "unix://$work/$x.sock" rm -f ab >/dev/null 2>&1 || true; done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/rootfs/bin" "$work/rootfs/etc"
cp /bin/busybox "$work/rootfs/bin/"
for a in sh true sleep; do ln -sf busybox "$work/rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$work/rootfs/etc/passwd"
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
for x in A B; do
  bin=${!x}
  "$bin" daemon --host "unix://$work/$x.sock" --data-root "$work/$x-root" >"$work/$x.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do "$bin" -H "unix://$work/$x.sock" version >/dev/null 2>&1 && break; sleep 0.05; done
  "$bin" -H "unix://$work/$x.sock" import "$work/rootfs.tar" bb >/dev/null
  "$bin" -H "unix://$work/$x.sock" run -d --name ab --network none bb sleep 600 >/dev/null
done
for r in $(seq "$ROUNDS"); do
  for x in A B; do
    hyperfine -N --warmup 2 --runs "$RUNS" --export-json "$work/h.json" \
      "${!x} -H unix://$work/$x.sock ${SUB[*]}" >/dev/null 2>&1
    python3 -c "import json; [print(t) for t in json.load(open('$work/h.json'))['results'][0]['times']]" >> "$work/t-$x"
  done
done
echo "${SUB[*]}, $ROUNDS rounds x $RUNS runs each, interleaved:"
for x in A B; do
  python3 - "$work/t-$x" "$x" "${!x}" <<'PY'
import statistics, sys
t = sorted(float(l) for l in open(sys.argv[1]))
q = lambda f: t[min(len(t) - 1, int(len(t) * f))] * 1e3
print('%s median %.1f ms  p25 %.1f  p75 %.1f  p90 %.1f  min %.1f  (n=%d, %s)' % (
    sys.argv[2], statistics.median(t) * 1e3, q(.25), q(.75), q(.9), t[0] * 1e3, len(t), sys.argv[3]))
PY
done
