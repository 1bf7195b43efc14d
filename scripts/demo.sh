#!/usr/bin/env bash
# The main job, from a fresh Debian machine: install what is needed, build wharf, put it on
# PATH, seed a base image from the host's static busybox with `wharf import`, list it, and run
# a container from it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release -p wharf
install -m 0755 target/release/wharf /usr/local/bin/wharf

# A root filesystem: static busybox and its applets.
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs"/{bin,etc,tmp,root,proc,sys,dev}
cp /bin/busybox "$rootfs/bin/busybox"
for applet in $("$rootfs/bin/busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' > "$rootfs/etc/passwd"
echo 'root:x:0:' > "$rootfs/etc/group"
chmod 1777 "$rootfs/tmp"

# The first wharf command starts the daemon in the background.
tar -C "$rootfs" --numeric-owner -cf - . | wharf import -c 'CMD ["sh"]' - busybox:latest
wharf images
wharf run --rm busybox sh -c 'echo "Hello from a Wharf container: $(hostname), pid $$"; id' 
