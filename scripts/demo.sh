#!/usr/bin/env bash
# The main job, from a fresh Debian machine: install what is needed, build wharf, put it on
# PATH, seed a base image from the host's static busybox with `wharf import`, list it, and run
# a container from it; then the main job: build the example web app (examples/webapp, a
# Dockerfile) and serve it on a published port (`-p 4000:80`), fetched from the host.
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

# The main job: build the example web app from its Dockerfile and serve it on a published port.
wharf build -t webapp examples/webapp
wharf rm -f demo-web >/dev/null 2>&1 || true
wharf run -d --name demo-web -p 4000:80 webapp >/dev/null
wharf ps --filter name=demo-web
for _ in $(seq 50); do curl -fsS http://127.0.0.1:4000/ && break; sleep 0.1; done
wharf rm -f demo-web >/dev/null

# Compose: the web app as three load-balanced replicas behind one published port, plus a
# database-like service with a named volume (examples/compose/compose.yaml).
(
  cd examples/compose
  wharf compose up -d
  wharf compose ps
  for i in 1 2 3; do
    for _ in $(seq 50); do curl -fsS -o /dev/null http://127.0.0.1:4001/ && break; sleep 0.1; done
  done
  curl -fsS http://127.0.0.1:4001/ | grep -o 'Hello from a Wharf compose replica' | head -1
  wharf compose down -v
)
