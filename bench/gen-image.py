#!/usr/bin/env python3
"""Writes a docker-archive (manifest.json + gzip layers) of a many-file image for benchmarks.

usage: gen-image.py OUT.tar [TOTAL_MB] [LAYERS] [FILES_PER_LAYER]
Content is pseudo-random (incompressible, like binaries), deterministic per seed.
"""
import gzip, hashlib, io, json, os, random, sys, tarfile

out = sys.argv[1]
total_mb = int(sys.argv[2]) if len(sys.argv) > 2 else 200
nlayers = int(sys.argv[3]) if len(sys.argv) > 3 else 4
nfiles = int(sys.argv[4]) if len(sys.argv) > 4 else 5000
per_layer = total_mb * 1024 * 1024 // nlayers
rng = random.Random(42)
pool = rng.randbytes(8 * 1024 * 1024)

def layer(i):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        sizes = [rng.randint(1, 2 * per_layer // nfiles) for _ in range(nfiles)]
        for d in range(nfiles // 100 + 1):
            ti = tarfile.TarInfo(f"layer{i}/d{d:03d}"); ti.type = tarfile.DIRTYPE; ti.mode = 0o755; ti.mtime = 1700000000
            t.addfile(ti)
        for n, size in enumerate(sizes):
            off = rng.randrange(0, len(pool) - size)
            ti = tarfile.TarInfo(f"layer{i}/d{n // 100:03d}/f{n:05d}"); ti.size = size; ti.mode = 0o644; ti.mtime = 1700000000
            t.addfile(ti, io.BytesIO(pool[off:off + size]))
    raw = buf.getvalue()
    return raw, gzip.compress(raw, compresslevel=1, mtime=0)

layers = [layer(i) for i in range(nlayers)]
diff_ids = ["sha256:" + hashlib.sha256(raw).hexdigest() for raw, _ in layers]
config = json.dumps({
    "architecture": "amd64", "os": "linux", "created": "2026-01-01T00:00:00Z",
    "config": {"Cmd": ["sh"], "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
    "rootfs": {"type": "layers", "diff_ids": diff_ids},
    "history": [{"created": "2026-01-01T00:00:00Z", "created_by": f"bench layer {i}"} for i in range(nlayers)],
}).encode()
config_hex = hashlib.sha256(config).hexdigest()
with tarfile.open(out, "w") as t:
    def add(name, data):
        ti = tarfile.TarInfo(name); ti.size = len(data); ti.mode = 0o644
        t.addfile(ti, io.BytesIO(data))
    names = []
    for i, (_, gz) in enumerate(layers):
        name = f"{hashlib.sha256(gz).hexdigest()}/layer.tar"
        add(name, gz); names.append(name)
    add(f"{config_hex}.json", config)
    add("manifest.json", json.dumps([{"Config": f"{config_hex}.json", "RepoTags": ["bench/big:1"], "Layers": names}]).encode())
print(sum(len(raw) for raw, _ in layers))
