#!/usr/bin/env bash
# Where the time of one `wharf run --rm bb true` goes, phase by phase.
#   bench/phases.sh [RUNS=12]
# Records syscall tracepoints of the whole machine with `perf record` (low overhead: only the
# listed syscalls, no per-event printing) over RUNS runs on a private daemon, then prints the
# median time of each milestone after the CLI's execve, and the step from the one before.
# Each run is bounded (timeout 30 s: a hung run does not hang the script).
# Needs perf (linux-perf). Milestones that a run lacks (a code path not taken) are skipped.
set -euo pipefail
# A CLI that finds no daemon must not start one of its own (it would outlive the script).
export WHARF_NO_AUTOSTART=1
cd "$(dirname "$0")/.."
RUNS=${1:-12}
command -v perf >/dev/null || { echo "perf is needed: apt-get install linux-perf" >&2; exit 1; }
[ -n "${WHARF:-}" ] || { cargo build --release -q -p wharf; WHARF=$PWD/target/release/wharf; }
work=$(mktemp -d /var/tmp/wharf-bench-phases.XXXXXX)
cleanup() {
  [ -n "${wpid:-}" ] && kill "$wpid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/rootfs/bin" "$work/rootfs/etc"
cp /bin/busybox "$work/rootfs/bin/"
for a in sh true; do ln -sf busybox "$work/rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$work/rootfs/etc/passwd"
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
"$WHARF" daemon --host "unix://$work/w.sock" --data-root "$work/root" >"$work/daemon.log" 2>&1 &
wpid=$!
W="$WHARF -H unix://$work/w.sock"
for _ in $(seq 100); do $W version >/dev/null 2>&1 && break; sleep 0.05; done
$W import "$work/rootfs.tar" bb >/dev/null
$W run --rm --network none bb true
ev=()
for s in execve clone clone3 exit_group connect pivot_root seccomp unshare wait4 rename umount mount; do
  ev+=(-e "syscalls:sys_enter_$s")
done
ev+=(-e syscalls:sys_exit_wait4 -e syscalls:sys_exit_execve)
perf record -q -a "${ev[@]}" -o "$work/perf.data" -- \
  sh -c "for i in \$(seq $((RUNS + 1))); do timeout 30 $W run --rm --network none bb true; done" >/dev/null 2>&1
perf script -i "$work/perf.data" -F comm,pid,time,event,trace 2>/dev/null > "$work/events.txt"
python3 - "$work/events.txt" <<'PY'
import re, statistics, sys
ev = []
for l in open(sys.argv[1]):
    m = re.match(r'\s*(.+?)\s+(\d+)\s+([\d.]+):\s+syscalls:(\S+):\s*(.*)', l)
    if m:
        comm, pid, t, e, arg = m.groups()
        ev.append((float(t) * 1e3, comm.strip(), int(pid), e, arg.strip()))
# A run starts where a CLI process's execve returns (the daemon runs as `wharf daemon`, the
# CLI as a fresh `wharf` process: the comm of the binary).
cli_comm = None
runs = []
for x in ev:
    t, c, p, e, a = x
    if e == 'sys_exit_execve' and a == '0x0' and not c.startswith(('shim-', 'youki', 'wharf-zygote', 'true', 'sh', 'seq', 'timeout')):
        cli_comm = c
        runs.append([x])
    elif runs:
        runs[-1].append(x)
def at(run, pred, after=0.0):
    return next((x[0] for x in run if x[0] >= after and pred(x)), None)
shim = lambda x: x[1].startswith('shim-')
rows = []
for run in runs:
    t0, cli = run[0][0], run[0][2]
    m = {}
    m['CLI connects'] = at(run, lambda x: x[2] == cli and x[3] == 'sys_enter_connect')
    m['zygote forks the shim'] = at(run, lambda x: x[1] == 'wharf-zygote' and x[3] == 'sys_enter_clone')
    m['shim mounts the overlay'] = at(run, lambda x: shim(x) and x[3] == 'sys_enter_mount')
    m['shim forks its create child'] = at(run, lambda x: shim(x) and x[3] == 'sys_enter_clone')
    m['child clones intermediate'] = at(run, lambda x: shim(x) and x[3] == 'sys_enter_clone3')
    m['intermediate unshares pid'] = at(run, lambda x: 'INTER' in x[1] and x[3] == 'sys_enter_unshare')
    m['init pivot_root'] = at(run, lambda x: 'INIT' in x[1] and x[3] == 'sys_enter_pivot_root')
    m['daemon connects (attach)'] = at(run, lambda x: x[1].startswith('tokio') and x[3] == 'sys_enter_connect', m['init pivot_root'] or 0)
    m['init installs seccomp'] = at(run, lambda x: 'INIT' in x[1] and x[3] == 'sys_enter_seccomp')
    m['command exec done'] = at(run, lambda x: x[3] == 'sys_exit_execve' and x[4] == '0x0' and x[2] != cli)
    m['command exits'] = at(run, lambda x: x[1] == 'true' and x[3] == 'sys_enter_exit_group')
    end = m['command exits'] or 0
    m['shim reaps it'] = at(run, lambda x: shim(x) and x[3] == 'sys_exit_wait4', end)
    m['shim writes exit.json'] = at(run, lambda x: shim(x) and x[3] == 'sys_enter_rename', end)
    m['shim unmounts'] = at(run, lambda x: shim(x) and x[3] == 'sys_enter_umount', end)
    m['daemon removes (rename)'] = at(run, lambda x: x[1].startswith('tokio') and x[3] == 'sys_enter_rename', end)
    m['CLI exits'] = at(run, lambda x: x[2] == cli and x[3] == 'sys_enter_exit_group')
    rows.append({k: v - t0 for k, v in m.items() if v is not None})
rows = rows[1:]  # the first run warms the perf buffers
print(f"{len(rows)} runs, medians in ms after the CLI's execve")
print('%-30s %8s %8s' % ('milestone', 'at', 'step'))
prev = 0.0
for k in dict.fromkeys(k for r in rows for k in r):
    vals = [r[k] for r in rows if k in r]
    if len(vals) < len(rows) / 2:
        continue
    med = statistics.median(vals)
    print('%-30s %8.2f %8.2f' % (k, med, med - prev))
    prev = med
PY
