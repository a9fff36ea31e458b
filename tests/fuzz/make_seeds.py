#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Seed corpora for the libFuzzer harnesses, cut from the committed test fixtures.

    make_seeds.py FIXTURES_DIR OUT_DIR

Writes OUT_DIR/<harness>/<name> for every harness in tests/fuzz (standard library only, no
torch). Seeds are kept small: a fuzzer mutates small inputs much faster, so zip seeds also come
as "directory" copies whose payloads are cut to a few bytes (same names, methods, ZIP64 layout),
and the pickle seeds are the data.pkl / constants.pkl records and the single pickles of the
legacy streams. The output is scratch: never commit it (scripts/fuzz.sh puts it under
build-fuzz/).
"""
import io
import os
import pathlib
import sys
import zipfile

LEGACY_HEADER = bytes.fromhex("80028a0a6cfc9c46f9206aa850192e")
MAX_SEED = 64 * 1024


def files_under(root, patterns):
    out = []
    for pattern in patterns:
        out += sorted(p for p in root.rglob(pattern) if p.is_file())
    return out


def put(out, harness, name, data):
    if len(data) > MAX_SEED:
        return
    d = out / harness
    d.mkdir(parents=True, exist_ok=True)
    (d / name.replace("/", "_")).write_bytes(data)


def small_zip(data):
    """The same archive with every payload cut to at most 8 bytes (stored) or re-deflated."""
    try:
        src = zipfile.ZipFile(io.BytesIO(data))
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as dst:
            for info in src.infolist():
                payload = src.read(info.filename)
                if not info.filename.endswith(".pkl") and info.filename.rsplit("/", 1)[-1] not in ("version", "byteorder"):
                    payload = payload[:8]
                zi = zipfile.ZipInfo(info.filename, info.date_time)
                zi.compress_type = info.compress_type
                dst.writestr(zi, payload)
        return buf.getvalue()
    except Exception:  # a fixture that zipfile cannot rebuild is still seeded whole
        return None


def pickles_of_zip(data):
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
        return [(i.filename, z.read(i.filename)) for i in z.infolist() if i.filename.endswith(".pkl")]
    except Exception:
        return []


def legacy_pickles(stream):
    """The pickles of a legacy stream, split at each STOP that ends a top-level pickle."""
    import pickletools
    out, pos = [], 0
    f = io.BytesIO(stream)
    while pos < len(stream):
        f.seek(pos)
        try:
            end = None
            for op, _arg, at in pickletools.genops(f):
                if op.name == "STOP":
                    end = at + 1
                    break
        except Exception:
            break
        if end is None:
            break
        out.append(stream[pos:end])
        pos = end
    return out


def main():
    fixtures = pathlib.Path(sys.argv[1])
    out = pathlib.Path(sys.argv[2])
    everything = files_under(fixtures, ["files/**/*", "containers/*"])
    # JSON the readers take: shard indexes, and a Trainer folder's trainer_state.json and
    # config.json (the index harness also runs the JSON value reader).
    json_inputs = (".index.json", "trainer_state.json", "config.json")
    everything = [p for p in everything if not p.name.endswith((".json", ".py", ".md"))
                  or p.name.endswith(json_inputs)]
    for p in everything:
        data = p.read_bytes()
        rel = str(p.relative_to(fixtures))
        if p.name == ".metadata":  # a DCP directory's (the dcp harness puts it beside rank files)
            put(out, "dcp", rel, data)
            continue
        if not p.name.endswith(json_inputs):
            put(out, "checkpoint", rel, data)
        if data[:4] == b"PK\x03\x04":
            put(out, "zip", rel, data)
            if (small := small_zip(data)) is not None:
                put(out, "zip", rel + ".small", small)
                put(out, "checkpoint", rel + ".small", small)
            for name, pkl in pickles_of_zip(data):
                put(out, "pickle", rel + "." + name, pkl)
        elif data.startswith(LEGACY_HEADER):
            put(out, "legacy", rel, data[len(LEGACY_HEADER):])
            for i, pkl in enumerate(legacy_pickles(data)):
                put(out, "pickle", "%s.%d.pkl" % (rel, i), pkl)
        elif len(data) >= 512 and (data[257:262] == b"ustar" or p.suffix == ".tar"):
            put(out, "tar", rel, data)
        elif p.suffix == ".safetensors":
            put(out, "safetensors", rel, data)
        elif p.name.endswith(json_inputs):
            put(out, "index", rel, data)
    for p in files_under(fixtures, ["pickles/*.pkl", "files/*.pkl"]):
        put(out, "pickle", str(p.relative_to(fixtures)), p.read_bytes())
    for h in ["zip", "pickle", "legacy", "tar", "safetensors", "index", "checkpoint", "dcp"]:
        d = out / h
        d.mkdir(parents=True, exist_ok=True)
        files = list(d.iterdir())
        print("seeds %-12s %4d files %8d bytes" % (h, len(files), sum(f.stat().st_size for f in files)))


if __name__ == "__main__":
    main()
