#!/usr/bin/env bash
# Installs what building, running and testing Wharf needs on a fresh Debian machine (as root).
# Idempotent: packages already present are skipped quickly.
set -euo pipefail

# Build: pkg-config + libseccomp-dev (the runtime's seccomp filters); make, libelf-dev and
# zlib1g-dev (libbpf, built from source for the cgroup v2 devices filter).
# Build: git (the daemon fetches `ADD <git repository>` with it; docs/adr-0007-build.md).
# Run: busybox-static (the seed image), iproute2, tini (its static build is `--init`; docs/adr-0005-init.md).
# Test and bench references: docker.io (a real Docker engine beside ours, and its CLI), hyperfine.
# openssl: the registry TLS tests make a throwaway CA and certificate with its CLI.
# qemu-system-x86 + cpio: the cgroup v2 test boots a Debian kernel (fetched with apt-get download,
# not installed) in a VM from an initramfs (tests/vm/cgroup-v2.sh; docs/adr-0013-cgroup-v2.md).
# python3-docker is the Docker SDK used by the interop tests where pip's is absent.
PKGS=(pkg-config libseccomp-dev make libelf-dev zlib1g-dev busybox-static iproute2 nftables wrk tini hyperfine docker.io ca-certificates docker-registry skopeo docker-compose openssl git qemu-system-x86 cpio)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    echo "error: a Rust toolchain (cargo) is required; install it with rustup" >&2
    exit 1
  fi
fi
python3 -c 'import docker' 2>/dev/null || pip install -q docker 2>/dev/null || true
