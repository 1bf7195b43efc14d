#!/usr/bin/env bash
# The main job, from a fresh Debian machine: install what is needed, build wharf, put it on
# PATH, seed a base image from the host's static busybox with `wharf import`, list it, and run
# a container from it; then the seed's first example, a web page served from a container on a
# published port (`-p 4000:80`), fetched from the host.
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

# A web app image: the same root filesystem with a page, serving it on port 80.
mkdir -p "$rootfs/www"
echo '<h1>Hello from a Wharf container</h1>' > "$rootfs/www/index.html"
tar -C "$rootfs" --numeric-owner -cf - . |
  wharf import -c 'CMD ["httpd", "-f", "-p", "80", "-h", "/www"]' -c 'EXPOSE 80' - webapp:latest >/dev/null
wharf rm -f demo-web >/dev/null 2>&1 || true
wharf run -d --name demo-web -p 4000:80 webapp >/dev/null
wharf ps --filter name=demo-web
for _ in $(seq 50); do curl -fsS http://127.0.0.1:4000/ && break; sleep 0.1; done
wharf rm -f demo-web >/dev/null
