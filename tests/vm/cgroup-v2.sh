#!/usr/bin/env bash
# Runs Wharf on a pure cgroup v2 host: a Debian 6.1 kernel booted under qemu (KVM, or TCG
# where KVM cannot boot a guest) with every
# v1 controller disabled (cgroup_no_v1=all), an initramfs of static busybox, the given
# `wharf` binary and its shared libraries, and the checks of tests/vm/guest-init.sh. Prints
# the guest's serial console; the checks' lines are `PASS name` / `FAIL name: detail`, and
# the last one `VM-DONE <passed> <failed>`.
#
#   tests/vm/cgroup-v2.sh path/to/wharf
#
# Exit: 0 all passed, 1 a check failed or the VM did not finish, 77 skipped (no /dev/kvm).
# The kernel package is fetched once with `apt-get download` and unpacked (not installed)
# under $WHARF_VM_CACHE (default /var/tmp/wharf-vm; older kernel packages there are removed).
# The VM has no network device. WHARF_VM_ACCEL=kvm|tcg skips the KVM probe;
# WHARF_VM_TIMEOUT (s, default 300) bounds qemu; WHARF_VM_KARGS replaces `quiet loglevel=1`.
set -euo pipefail

WHARF=${1:?usage: tests/vm/cgroup-v2.sh path/to/wharf}
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${WHARF_VM_CACHE:-/var/tmp/wharf-vm}
TIMEOUT=${WHARF_VM_TIMEOUT:-300}
MODULES=(overlay)

if [ ! -e /dev/kvm ]; then
  echo "SKIP: /dev/kvm is missing: the cgroup v2 VM test cannot run here" >&2
  exit 77
fi
for tool in qemu-system-x86_64 cpio busybox objcopy apt-get apt-cache dpkg-deb ldd; do
  command -v "$tool" >/dev/null || { echo "error: $tool is missing (scripts/install-deps.sh)" >&2; exit 1; }
done
BUSYBOX=$(command -v busybox)

# The kernel: the package linux-image-amd64 depends on (e.g. linux-image-6.1.0-56-amd64).
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9
PKG=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[ -n "$PKG" ] || { echo "error: no kernel package behind linux-image-amd64 (apt-get update?)" >&2; exit 1; }
KDIR="$CACHE/$PKG"
if [ ! -e "$KDIR/.done" ]; then
  rm -rf "$KDIR" && mkdir -p "$KDIR/deb"
  (cd "$KDIR/deb" && apt-get download -q "$PKG" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
  dpkg-deb -x "$KDIR"/deb/*.deb "$KDIR/root"
  rm -rf "$KDIR/deb"
  touch "$KDIR/.done"
  for old in "$CACHE"/linux-image-*; do
    [ "$old" = "$KDIR" ] || rm -rf "$old"
  done
fi
flock -u 9
KVER=$(ls "$KDIR/root/lib/modules")
VMLINUZ="$KDIR/root/boot/vmlinuz-$KVER"

WORK=$(mktemp -d /var/tmp/wharf-vm-run.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
trap 'exit 1' INT TERM
R="$WORK/initramfs"
mkdir -p "$R"/{bin,dev,proc,sys,etc,lib/modules,tmp,run,var}
cp "$BUSYBOX" "$R/bin/busybox"
for a in $("$BUSYBOX" --list); do
  [ "$a" = busybox ] || ln -sf busybox "$R/bin/$a"
done
# The binary without its debug info (a third of the size: a faster cpio and unpack).
objcopy --strip-debug "$WHARF" "$R/bin/wharf"
for lib in $(ldd "$WHARF" | grep -o '/[^ ]*'); do
  mkdir -p "$R$(dirname "$lib")"
  cp -L "$lib" "$R$lib"
done
# Modules (and what they depend on, from each .ko's modinfo), in load order.
declare -A SEEN=()
ORDER=()
add_module() {
  local name=${1//-/_} ko deps d
  [ -n "${SEEN[$name]:-}" ] && return 0
  SEEN[$name]=1
  grep -qw "$name.ko" <(sed 's|.*/||' "$KDIR/root/lib/modules/$KVER/modules.builtin") && return 0
  ko=$(find "$KDIR/root/lib/modules/$KVER/kernel" -name "$name.ko" -o -name "${1}.ko" | head -n1)
  [ -n "$ko" ] || { echo "error: module $name not found" >&2; exit 1; }
  deps=$(objcopy -O binary --only-section=.modinfo "$ko" /dev/stdout | tr '\0' '\n' | sed -n 's/^depends=//p' | tr ',' ' ')
  for d in $deps; do add_module "$d"; done
  cp "$ko" "$R/lib/modules/"
  ORDER+=("$(basename "$ko")")
}
for m in "${MODULES[@]}"; do add_module "$m"; done
printf '%s\n' "${ORDER[@]}" >"$R/lib/modules/load-order"
cp "$HERE/guest-init.sh" "$R/init"
chmod 755 "$R/init"
mknod "$R/dev/console" c 5 1
(cd "$R" && find . | cpio -o -H newc --quiet) >"$WORK/initrd"

# KVM where it boots a guest; in a VM without working nested virtualization (this kind of
# CI machine: /dev/kvm exists, but a guest kernel hangs right after the real-mode setup)
# qemu's TCG, slower but the same kernel and checks. Probed once per host kernel.
ACCEL=${WHARF_VM_ACCEL:-auto}
if [ "$ACCEL" = auto ]; then
  VERDICT="$CACHE/kvm-$(uname -r)-$PKG"
  if [ ! -e "$VERDICT" ]; then
    if timeout 20 qemu-system-x86_64 -enable-kvm -cpu host -m 256M -nographic -no-reboot -nic none -monitor none \
      -kernel "$VMLINUZ" -append "console=ttyS0 earlyprintk=serial,ttyS0 panic=-1" </dev/null 2>&1 |
      grep -q -m1 'Linux version'; then
      echo kvm >"$VERDICT"
    else
      echo tcg >"$VERDICT"
    fi
  fi
  ACCEL=$(cat "$VERDICT")
fi
if [ "$ACCEL" = kvm ]; then
  QACCEL=(-enable-kvm -cpu host)
else
  echo "WARNING: KVM does not boot a guest on this machine (nested virtualization?): using qemu's TCG (slower)" >&2
  QACCEL=(-accel tcg,thread=multi -cpu max)
fi
echo "VM-ACCEL $ACCEL"

start=$(date +%s.%N)
set +e
timeout --kill-after=10 "$TIMEOUT" qemu-system-x86_64 \
  "${QACCEL[@]}" -m 2G -smp 2 -nographic -no-reboot -nic none -monitor none \
  -kernel "$VMLINUZ" -initrd "$WORK/initrd" \
  -append "console=ttyS0 cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1 panic=-1 ${WHARF_VM_KARGS:-quiet loglevel=1} rdinit=/init" \
  </dev/null 2>&1 | tr -d '\r' | tee "$WORK/console.log"
rc=${PIPESTATUS[0]}
set -e
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" -v rc="$rc" 'BEGIN { printf "VM-TIME %.1f s (qemu exit %s)\n", e - s, rc }'
if grep -q '^VM-DONE [0-9]* 0$' "$WORK/console.log" && ! grep -q '^FAIL ' "$WORK/console.log"; then
  exit 0
fi
exit 1
