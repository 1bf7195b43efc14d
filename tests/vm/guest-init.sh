#!/bin/sh
# PID 1 of the cgroup v2 VM (tests/vm/cgroup-v2.sh): moves from the initramfs to a tmpfs
# root (pivot_root, which every container start needs, fails on the initramfs itself),
# mounts cgroup2 alone at /sys/fs/cgroup as systemd does, starts `wharf daemon` and runs
# the checks. Each check prints `PASS name` or `FAIL name: detail`; then `VM-DONE p f`.
export PATH=/bin

if [ "$1" != stage2 ]; then
  mount -t proc proc /proc
  mount -t devtmpfs dev /dev
  exec </dev/console >/dev/console 2>&1
  mkdir /newroot
  mount -t tmpfs -o size=1200m,mode=755 root /newroot
  for f in /*; do
    case "$f" in
    /proc | /sys | /dev | /newroot) ;;
    *) cp -a "$f" /newroot/ ;;
    esac
  done
  mkdir -p /newroot/proc /newroot/sys /newroot/dev
  umount /dev
  umount /proc
  exec switch_root /newroot /init stage2
  echo "FAIL boot: switch_root"
  poweroff -f
fi

mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
exec </dev/console >/dev/console 2>&1
# What systemd mounts on a unified host.
mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup
for m in $(cat /lib/modules/load-order); do
  insmod "/lib/modules/$m" || echo "FAIL boot: insmod $m"
done
ip link set lo up
hostname wharf-vm
echo "root:x:0:0:root:/root:/bin/sh" >/etc/passwd
echo "root:x:0:" >/etc/group
echo "127.0.0.1 localhost" >/etc/hosts
: >/etc/resolv.conf
mkdir -p /root /var/lib

P=0
F=0
pass() { echo "PASS $1"; P=$((P + 1)); }
fail() {
  echo "FAIL $1: $(echo "$2" | tr '\n' ' ' | cut -c1-600)"
  F=$((F + 1))
}
# check NAME EXPECTED ACTUAL
check() {
  if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "expected [$2], got [$3]"; fi
}

echo "VM-KERNEL $(uname -r) cgroup: $(grep cgroup /proc/mounts | tr '\n' ' ')"
echo "VM-CONTROLLERS $(cat /sys/fs/cgroup/cgroup.controllers)"
if [ -e /sys/fs/cgroup/cgroup.controllers ] && ! grep -q ' cgroup ' /proc/mounts; then
  pass cgroup_v2_only
else
  fail cgroup_v2_only "$(cat /proc/mounts)"
fi

SOCK=/run/wharf.sock
WHARF_REGISTRY_LOOPBACK_ONLY=1 wharf daemon --host unix://$SOCK --data-root /var/lib/wharf >/run/daemon.log 2>&1 &
i=0
while [ ! -S $SOCK ] && [ $i -lt 200 ]; do
  sleep 0.1
  i=$((i + 1))
done
# Bounded, so that a hung command fails its check instead of the whole VM's timeout.
w() { timeout 120 wharf -H unix://$SOCK "$@"; }
if w version >/dev/null 2>&1; then pass daemon_up; else fail daemon_up "$(cat /run/daemon.log)"; fi

# The busybox image, as the e2e tests make it.
mkdir -p /img/bin /img/etc /img/tmp /img/root /img/proc /img/sys /img/dev
cp /bin/busybox /img/bin/busybox
for a in $(busybox --list); do [ "$a" = busybox ] || ln -s busybox /img/bin/$a; done
out=$(tar -C /img -cf - . | w import -c 'CMD ["sh"]' - bb 2>&1)
case "$out" in sha256:*) pass import ;; *) fail import "$out" ;; esac

t0=$(date +%s)
check run_rm hello "$(w run --rm --network none bb echo hello 2>&1)"
check own_cgroup_is_root "0::/" "$(w run --rm --network none bb cat /proc/self/cgroup 2>&1)"
check default_cpu_weight "100 max" "$(w run --rm --network none bb cat /sys/fs/cgroup/cpu.weight /sys/fs/cgroup/memory.max 2>&1 | tr '\n' ' ' | sed 's/ $//')"

# Limits, as docker sets them on v2 (runc's conversions).
id=$(w run -d --name lim --network none -m 32m --pids-limit 20 --cpus 0.5 --cpu-shares 512 bb sleep 600 2>&1)
CG=/sys/fs/cgroup/wharf/$id
if [ -d "$CG" ]; then pass cgroup_dir; else fail cgroup_dir "$id: $(ls -R /sys/fs/cgroup | head -50)"; fi
check memory_max 33554432 "$(cat $CG/memory.max 2>&1)"
check pids_max 20 "$(cat $CG/pids.max 2>&1)"
check cpu_max "50000 100000" "$(cat $CG/cpu.max 2>&1)"
# libcgroups 0.7 maps shares to weight as runc >= 1.4 and crun >= 1.23 do (1024 -> 100,
# the kernel's default; 512 -> 59); runc <= 1.3's linear map gave 20.
check cpu_weight 59 "$(cat $CG/cpu.weight 2>&1)"
# docker: --memory-swap unset = twice -m; v2's memory.swap.max holds the swap part alone.
check memory_swap_max 33554432 "$(cat $CG/memory.swap.max 2>&1)"
pid=$(w inspect -f '{{.State.Pid}}' lim)
check procs_is_init_only "$pid" "$(cat $CG/cgroup.procs 2>&1)"
check container_sees_its_limit 33554432 "$(w exec lim cat /sys/fs/cgroup/memory.max 2>&1)"
check exec_runs hi "$(w exec lim echo hi 2>&1)"
check exec_own_cgroup "0::/" "$(w exec lim cat /proc/self/cgroup 2>&1)"
out=$(w exec lim sh -c 'echo max > /sys/fs/cgroup/memory.max' 2>&1)
rc=$?
if [ $rc -ne 0 ] && [ "$(cat $CG/memory.max)" = 33554432 ]; then pass cannot_raise_memory_max; else fail cannot_raise_memory_max "rc $rc: $out; memory.max $(cat $CG/memory.max)"; fi
out=$(w exec lim sh -c 'echo max > /sys/fs/cgroup/pids.max' 2>&1)
rc=$?
if [ $rc -ne 0 ] && [ "$(cat $CG/pids.max)" = 20 ]; then pass cannot_raise_pids_max; else fail cannot_raise_pids_max "rc $rc: $out; pids.max $(cat $CG/pids.max)"; fi
out=$(w exec lim mkdir /sys/fs/cgroup/sub 2>&1)
rc=$?
if [ $rc -ne 0 ] && [ ! -d $CG/sub ]; then pass cannot_mkdir_cgroup; else fail cannot_mkdir_cgroup "rc $rc: $out"; fi
check cgroupfs_read_only ro "$(w exec lim sh -c 'grep " /sys/fs/cgroup " /proc/mounts' 2>&1 | cut -d' ' -f4 | cut -d, -f1)"

out=$(w stats --no-stream --format '{{.MemUsage}}' lim 2>&1)
case "$out" in
"0B /"* | *rror*) fail stats_memory "$out" ;;
*" / 32MiB") pass stats_memory ;;
*) fail stats_memory "$out" ;;
esac
echo "VM-STATS $out"

w pause lim >/dev/null 2>&1
check pause_freezes "1 paused" "$(cat $CG/cgroup.freeze 2>&1) $(w inspect -f '{{.State.Status}}' lim 2>&1)"
w unpause lim >/dev/null 2>&1
check unpause_thaws "0 running" "$(cat $CG/cgroup.freeze 2>&1) $(w inspect -f '{{.State.Status}}' lim 2>&1)"
check exec_after_unpause hi "$(w exec lim echo hi 2>&1)"

out=$(w rm -f lim 2>&1)
if [ -d "$CG" ]; then fail rm_removes_cgroup "$out; $(ls $CG)"; else pass rm_removes_cgroup; fi
check rm_leaves_no_mount "" "$(grep "$id" /proc/mounts)"

# --cpuset-*, --memory-reservation and --blkio-weight, as runc sets them on v2 (reservation
# is memory.low; the blkio weight goes to io.bfq.weight as is, or converted to io.weight's
# 1-10000 range where BFQ is absent: 300 -> 2930).
id=$(w run -d --name res --network none --cpuset-cpus 1 --cpuset-mems 0 --memory-reservation 16m --blkio-weight 300 bb sleep 600 2>&1)
CG=/sys/fs/cgroup/wharf/$id
check cpuset_cpus 1 "$(cat $CG/cpuset.cpus 2>&1)"
check cpuset_mems 0 "$(cat $CG/cpuset.mems 2>&1)"
check cpuset_binds_the_process "Cpus_allowed_list: 1" "$(w exec res grep Cpus_allowed_list /proc/self/status 2>&1 | tr -s '\t ' ' ')"
check memory_low 16777216 "$(cat $CG/memory.low 2>&1)"
if [ -e $CG/io.bfq.weight ]; then
  check io_weight "default 300" "$(cat $CG/io.bfq.weight 2>&1)"
else
  check io_weight "default 2930" "$(cat $CG/io.weight 2>&1)"
fi
w rm -f res >/dev/null 2>&1

# The devices cgroup (on v2 an eBPF program attached to the container's cgroup): the
# container may make a node (CAP_MKNOD, as docker's) but not open one outside its list.
# (/dev/vcs and /dev/fuse: root may open them, no capability needed; not in docker's list.)
out=$(w run --rm --network none bb sh -c 'for d in "vcs 7 0" "fuse 10 229"; do set -- $d; mknod /tmp/$1 c $2 $3 || echo mknod-failed; dd if=/tmp/$1 of=/dev/null count=0 2>&1 && echo opened; done' 2>&1)
case "$out" in
*mknod-failed* | *opened*) fail devices_denied "$out" ;;
*"vcs': Operation not permitted"*"fuse': Operation not permitted"*) pass devices_denied ;;
*) fail devices_denied "$out" ;;
esac
check devices_allowed ok "$(w run --rm --network none bb sh -c 'head -c 1 /dev/urandom >/dev/null && echo ok' 2>&1)"
# Adding to the list: --device (the node and its rule) and --device-cgroup-rule (a rule for a
# node the container makes).
check device_flag opened "$(w run --rm --network none --device /dev/vcs bb sh -c 'dd if=/dev/vcs of=/dev/null count=0 2>/dev/null && echo opened' 2>&1)"
check device_cgroup_rule opened "$(w run --rm --network none --device-cgroup-rule 'c 7:0 r' bb sh -c 'mknod /tmp/vcs c 7 0 && dd if=/tmp/vcs of=/dev/null count=0 2>/dev/null && echo opened' 2>&1)"
check devices_privileged opened "$(w run --rm --network none --privileged bb sh -c 'mknod /tmp/vcs c 7 0 && dd if=/tmp/vcs of=/dev/null count=0 2>/dev/null && echo opened' 2>&1)"

out=$(w run --rm --network none --pids-limit 5 bb sh -c 'i=0; while [ $i -lt 10 ]; do sleep 1 & i=$((i+1)); done; wait; echo started' 2>&1)
case "$out" in *fork*) pass pids_limit_stops_forks ;; *) fail pids_limit_stops_forks "$out" ;; esac

# -m 32m and a 64 MiB buffer: the kernel OOM-kills the container.
w run --name oom --network none -m 32m --memory-swap 32m bb dd if=/dev/zero of=/dev/null bs=64M count=1 >/run/oom.out 2>&1
check oom_exit_137 137 "$?"
check oom_killed_flag true "$(w inspect -f '{{.State.OOMKilled}}' oom 2>&1)"
w rm oom >/dev/null 2>&1
check run_exit_code 3 "$(w run --rm --network none bb sh -c 'exit 3' >/dev/null 2>&1; echo $?)"

# --privileged: docker's cgroupfs is read-write (sub-cgroups can be made; with nsdelegate
# the namespace root's own limits still cannot be written).
out=$(w run --rm --network none --privileged bb sh -c 'grep " /sys/fs/cgroup " /proc/mounts | cut -d" " -f4 | cut -d, -f1; mkdir /sys/fs/cgroup/sub && rmdir /sys/fs/cgroup/sub && echo ok' 2>&1 | tr '\n' ' ' | sed 's/ $//')
check privileged_cgroupfs_rw "rw ok" "$out"

left=$(find /sys/fs/cgroup/wharf -mindepth 1 -maxdepth 1 -type d 2>/dev/null | tr '\n' ' ')
check no_cgroups_left "" "$left"
check no_container_mounts_left "" "$(grep ' /var/lib/wharf/.*rootfs ' /proc/mounts)"
# Informational: 10 × run --rm true (TCG: slow, but comparable between binaries).
t1=$(cut -d' ' -f1 /proc/uptime)
for i in 1 2 3 4 5 6 7 8 9 10; do w run --rm --network none bb true >/dev/null 2>&1; done
echo "VM-RUN-RM-MS $(awk -v a="$t1" '{printf "%d", ($1 - a) * 100}' /proc/uptime)"
echo "VM-CHECKS-TIME $(($(date +%s) - t0)) s"

if [ $F -gt 0 ]; then
  echo "--- daemon log (tail)"
  tail -n 40 /run/daemon.log
  echo "--- dmesg (tail)"
  dmesg | tail -n 30
fi
echo "VM-DONE $P $F"
sync
poweroff -f
