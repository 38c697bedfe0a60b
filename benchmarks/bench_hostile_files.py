"""Peak memory of loading hostile files (issue 9, points 10 and 12).

Builds small files that declare or inflate to huge sizes, then loads each in a
fresh subprocess and reports two figures: the peak traced by ``tracemalloc``
and the growth of the peak resident set size (``ru_maxrss``) over the process's
size after its imports.  The files are written once into a cache folder.

Run: ``python benchmarks/bench_hostile_files.py [--folder /tmp/nnscratch-hostile]``.
Point ``PYTHONPATH`` at another checkout's ``src`` to measure that version.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import zipfile

import numpy as np

GIB = 2**30
CHUNK = 16 * 2**20


def small_model(path):
    import nnscratch as nn

    net = nn.NeuralNetwork(
        [4, 8, 3], "relu", "softmax", "categorical_crossentropy", "adam", seed=0
    )
    rng = np.random.default_rng(0)
    net.fit(rng.normal(size=(32, 4)), rng.integers(0, 3, 32), 8, 1, categorical=True, verbose=0)
    return net.save(path)


def members(path):
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def write_zip(path, contents, big_name=None, big_header=b"", big_size=0):
    """Copy ``contents`` into a new zip; add ``big_name`` as header + ``big_size`` zeros."""
    with zipfile.ZipFile(path, "w") as out:
        for name, raw in contents.items():
            if name != big_name:
                out.writestr(name, raw)
        if big_name:
            info = zipfile.ZipInfo(big_name)
            info.compress_type = zipfile.ZIP_DEFLATED
            with out.open(info, "w", force_zip64=True) as handle:
                handle.write(big_header)
                zeros = bytes(CHUNK)
                left = big_size
                while left:
                    step = min(left, CHUNK)
                    handle.write(zeros[:step])
                    left -= step


def npy_header(descr, shape):
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode("latin1")
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header


def build(folder):
    os.makedirs(folder, exist_ok=True)
    good = os.path.join(folder, "good.npz")
    if not os.path.exists(good):
        small_model(good)
    base = members(good)
    meta = json.loads(str(np.load(good)["meta"]))
    files = {}

    path = files["model: stray 1 GiB zero member"] = os.path.join(folder, "stray.npz")
    if not os.path.exists(path):
        write_zip(path, base, "junk.npy", npy_header("|u1", (GIB,)), GIB)

    path = files["model: optimizer member inflating to 1 GiB"] = os.path.join(folder, "opt.npz")
    if not os.path.exists(path):
        write_zip(path, base, "optimizer.m.npy", npy_header("<f8", (GIB // 8,)), GIB)

    path = files["model: description padded to 1 GiB"] = os.path.join(folder, "desc.npz")
    if not os.path.exists(path):
        text = json.dumps(meta).encode("utf-32-le")
        # padded with spaces, which JSON ignores after the object
        with zipfile.ZipFile(path, "w") as out:
            for name, raw in base.items():
                if name != "meta.npy":
                    out.writestr(name, raw)
            info = zipfile.ZipInfo("meta.npy")
            info.compress_type = zipfile.ZIP_DEFLATED
            with out.open(info, "w", force_zip64=True) as handle:
                handle.write(npy_header(f"<U{GIB // 4}", ()) + text)
                spaces = " ".encode("utf-32-le") * (CHUNK // 4)
                left = GIB - len(text)
                while left:
                    step = min(left, CHUNK)
                    handle.write(spaces[:step])
                    left -= step

    path = files["model: params header declaring 2**40 values"] = os.path.join(folder, "hdr.npz")
    if not os.path.exists(path):
        contents = dict(base)
        contents["params.npy"] = npy_header("<f8", (2**40,)) + bytes(64)
        write_zip(path, contents)

    path = files["model: layers [6000, 6000] in a small file"] = os.path.join(folder, "wide.npz")
    if not os.path.exists(path):
        wide = dict(meta, layers=[6000, 6000])
        contents = dict(base)
        raw = json.dumps(wide)
        contents["meta.npy"] = npy_header(f"<U{len(raw)}", ()) + raw.encode("utf-32-le")
        write_zip(path, contents)

    path = files["params .npy: header declaring 2**40 values"] = os.path.join(folder, "p.npy")
    if not os.path.exists(path):
        with open(path, "wb") as handle:
            handle.write(npy_header("<f8", (2**40,)) + bytes(64))

    path = files["IDX: gzip bomb, 1 GiB of zeros"] = os.path.join(folder, "bomb-idx3-ubyte.gz")
    if not os.path.exists(path):
        with gzip.open(path, "wb", compresslevel=9) as handle:
            handle.write(bytes([0, 0, 8, 3]) + np.array([10, 28, 28], ">u4").tobytes())
            zeros = bytes(CHUNK)
            for _ in range(GIB // CHUNK):
                handle.write(zeros)

    # 65536**4 = 2**64 values: the product wraps to 0 in int64, so a header-only
    # file looked like a valid empty array
    path = files["IDX: dimension product overflowing int64"] = os.path.join(folder, "ovf4.idx")
    if not os.path.exists(path):
        with open(path, "wb") as handle:
            handle.write(bytes([0, 0, 8, 4]) + np.array([2**16] * 4, ">u4").tobytes())
    return files


PROBE = r"""
import json, resource, sys, tracemalloc
import numpy as np
import nnscratch as nn
from nnscratch.datasets import read_idx
path, how, trace = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if trace:
    tracemalloc.start()
try:
    if how == "model":
        nn.load_model(path)
    elif how == "params":
        net = nn.NeuralNetwork([4, 8, 3], "relu", "softmax", "categorical_crossentropy",
                               "adam", seed=0)
        net.load_params(path)
    else:
        read_idx(path)
    outcome = "loaded"
except BaseException as err:
    outcome = f"{type(err).__name__}: {str(err)[:90]}"
peak = tracemalloc.get_traced_memory()[1] if trace else 0
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"outcome": outcome, "traced_mib": peak / 2**20,
                  "rss_mib": (after - before) / 1024}))
"""


def measure(path, how):
    figures = {}
    for trace in ("1", "0"):
        proc = subprocess.run(
            [sys.executable, "-c", PROBE, path, how, trace],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if proc.returncode:
            figures.setdefault(
                "outcome", f"process died ({proc.returncode}): {proc.stderr.strip()[-90:]}"
            )
            continue
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        figures.setdefault("outcome", result["outcome"])
        key = "traced_mib" if trace == "1" else "rss_mib"
        figures[key] = result[key]
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", default="/tmp/nnscratch-hostile")
    parser.add_argument("--only", default="", help="run the cases whose label contains this")
    args = parser.parse_args()
    files = build(args.folder)
    print("| case | file size | traced peak | RSS growth | outcome |")
    print("|---|---|---|---|---|")
    for label, path in files.items():
        if args.only not in label:
            continue
        how = (
            "model"
            if label.startswith("model")
            else ("params" if label.startswith("params") else "idx")
        )
        f = measure(path, how)
        size = os.path.getsize(path)
        print(
            f"| {label} | {size / 1024:,.0f} KiB | {f.get('traced_mib', float('nan')):,.1f} MiB"
            f" | {f.get('rss_mib', float('nan')):,.1f} MiB | {f['outcome']} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
