#!/usr/bin/env python3
"""Writes a benchmark image: a docker-archive with N layers of M MB each, and
the same files as one flat rootfs tarball. Deterministic (seeded)."""
import hashlib, io, json, random, sys, tarfile

out, flat_out, layers, mb = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(42)
words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))) for _ in range(2000)]

def payload(size, text):
    if not text:
        return rng.randbytes(size)
    chunks, n = [], 0
    while n < size:
        w = rng.choice(words) + (b"\n" if rng.random() < 0.1 else b" ")
        chunks.append(w)
        n += len(w)
    return b"".join(chunks)[:size]

def layer_files(i):
    files, total, n = [], 0, 0
    while total < mb * 1024 * 1024:
        size = rng.choice([2_000, 8_000, 30_000, 120_000, 600_000])
        files.append((f"usr/lib/layer{i}/d{n % 40}/f{n}.{'txt' if n % 2 else 'bin'}", payload(size, n % 2 == 1)))
        total += size
        n += 1
    return files

def add(tar, name, data):
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode, ti.mtime = len(data), 0o644, 1_700_000_000
    tar.addfile(ti, io.BytesIO(data))

def add_dirs(tar, names, seen):
    for name in names:
        parts = name.split("/")[:-1]
        for k in range(1, len(parts) + 1):
            d = "/".join(parts[:k])
            if d not in seen:
                seen.add(d)
                ti = tarfile.TarInfo(d)
                ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, 1_700_000_000
                tar.addfile(ti)

all_files, blobs, diff_ids = [], [], []
for i in range(layers):
    files = layer_files(i)
    all_files += files
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        add_dirs(t, [f for f, _ in files], set())
        for name, data in files:
            add(t, name, data)
    blob = buf.getvalue()
    blobs.append(blob)
    diff_ids.append("sha256:" + hashlib.sha256(blob).hexdigest())

config = json.dumps({
    "architecture": "amd64", "os": "linux", "created": "2026-01-01T00:00:00Z",
    "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/sh"]},
    "rootfs": {"type": "layers", "diff_ids": diff_ids},
}).encode()
config_name = hashlib.sha256(config).hexdigest() + ".json"
with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
    add(t, config_name, config)
    names = []
    for d, blob in zip(diff_ids, blobs):
        name = d.split(":")[1] + "/layer.tar"
        names.append(name)
        add(t, name, blob)
    add(t, "manifest.json", json.dumps([{"Config": config_name, "RepoTags": ["bench/five:latest"], "Layers": names}]).encode())
with tarfile.open(flat_out, "w", format=tarfile.PAX_FORMAT) as t:
    add_dirs(t, [f for f, _ in all_files], set())
    for name, data in all_files:
        add(t, name, data)
