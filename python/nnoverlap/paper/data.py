"""The paired data sets of the paper's experiments: bundled, shared, or the user's files.

A :class:`PairedSet` holds two embeddings of the same items (row i of ``X`` and of ``Y``
describe item i). It may carry a fixed train/test split (``test_rows``): that is how explicit
``--train-x/--train-y/--test-x/--test-y`` files arrive (the paper's IAPR TC-12 protocol: train
on the training items, measure on the test items), rows paired by position (plain ``.npy``) or
by word (any embedding file :func:`nnoverlap.load` reads, or ``.npy`` with ``.words.txt``).

>>> from nnoverlap.paper.data import imagenet1k_pairs
>>> [(p.label, p.n) for p in imagenet1k_pairs()]
[('imagenet1k (visual/minilm)', 1000), ('imagenet1k (visual/glove)', 975)]
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..datasets import imagenet1k

__all__ = [
    "SHARED_ENV",
    "PairedSet",
    "default_pairs",
    "find_shared_data",
    "imagenet1k_pairs",
    "load_pair_files",
    "load_train_test_files",
    "words10k_pair",
]

#: Environment variable naming the shared real-data directory (with ``words10k/`` inside).
SHARED_ENV = "NNOVERLAP_SHARED_DATA"


@dataclass(frozen=True)
class PairedSet:
    """Two embeddings of the same items: row i of ``X`` and row i of ``Y`` describe item i.

    ``name`` names the data set, ``x_name`` / ``y_name`` the two embeddings (they label the
    directions, e.g. ``"visual→minilm"``). ``notes`` records what was done to the data on the
    way in. ``test_rows`` (sorted row indices), when given, is a fixed test part: the other
    rows are the training part, and only the ``split`` protocol applies.
    """

    name: str
    x_name: str
    y_name: str
    X: np.ndarray
    Y: np.ndarray
    notes: tuple[str, ...] = ()
    test_rows: np.ndarray | None = None

    def __post_init__(self) -> None:
        for side, arr in (("X", self.X), ("Y", self.Y)):
            if not isinstance(arr, np.ndarray) or arr.ndim != 2:
                raise ValueError(f"{self.name}: {side} must be a 2-D numpy array")
        if self.X.shape[0] != self.Y.shape[0]:
            raise ValueError(
                f"{self.name}: X and Y must have the same number of rows (paired by position), "
                f"got X {self.X.shape} and Y {self.Y.shape}"
            )
        if self.test_rows is not None:
            t = np.asarray(self.test_rows)
            if t.ndim != 1 or t.size < 3 or self.n - np.unique(t).size < 2:
                raise ValueError(
                    f"{self.name}: test_rows must name at least 3 rows and leave 2 for training"
                )
            if t.min() < 0 or t.max() >= self.n:
                raise ValueError(f"{self.name}: test_rows must lie in 0..{self.n - 1}")

    @property
    def n(self) -> int:
        """Number of items."""
        return int(self.X.shape[0])

    @property
    def label(self) -> str:
        """``"name (x_name/y_name)"``."""
        return f"{self.name} ({self.x_name}/{self.y_name})"

    def describe(self) -> dict[str, Any]:
        """Name, sizes and notes, for the report."""
        out: dict[str, Any] = {
            "name": self.name,
            "x": self.x_name,
            "y": self.y_name,
            "n": self.n,
            "dim_x": int(self.X.shape[1]),
            "dim_y": int(self.Y.shape[1]),
            "notes": list(self.notes),
        }
        if self.test_rows is not None:
            out["n_test"] = int(np.unique(self.test_rows).size)
        return out


def _drop_nonfinite(
    name: str, x_name: str, y_name: str, X: np.ndarray, Y: np.ndarray, why: str = ""
) -> PairedSet:
    """A :class:`PairedSet`, without the rows that hold a NaN or inf in X or Y (with a note)."""
    bad_x = ~np.isfinite(X).all(axis=1)
    bad_y = ~np.isfinite(Y).all(axis=1)
    bad = bad_x | bad_y
    notes: tuple[str, ...] = ()
    if bad.any():
        rows = np.flatnonzero(bad)
        shown = ", ".join(str(int(r)) for r in rows[:10]) + (", ..." if rows.size > 10 else "")
        sides = " and ".join(s for s, b in ((x_name, bad_x), (y_name, bad_y)) if b.any())
        notes = (
            f"{name}: dropped {rows.size} of {X.shape[0]} rows with a NaN or infinite value in "
            f"{sides}{why} (rows {shown}); {X.shape[0] - rows.size} items remain",
        )
        X, Y = X[~bad], Y[~bad]
    return PairedSet(name, x_name, y_name, X, Y, notes)


def imagenet1k_pairs() -> list[PairedSet]:
    """The bundled ImageNet-1k classes: visual vs MiniLM (1000 rows), visual vs GloVe (975).

    The GloVe vectors of 25 class names are NaN (a token missing from GloVe); those classes
    are dropped from the visual/GloVe pair, and the pair's ``notes`` say so.
    """
    data = imagenet1k()
    vm = PairedSet("imagenet1k", "visual", "minilm", data.visual, data.minilm)
    vg = _drop_nonfinite(
        "imagenet1k",
        "visual",
        "glove",
        data.visual,
        data.glove,
        why=" (class names with a token missing from GloVe)",
    )
    return [vm, vg]


def find_shared_data(path: str | os.PathLike[str] | None = None) -> Path | None:
    """The shared real-data directory, or ``None`` when there is none.

    Looks at ``path`` when given, else at ``$NNOVERLAP_SHARED_DATA``, else at ``../shared/data``
    relative to the current directory (the project's layout). A directory counts when it holds
    ``words10k/``.
    """
    if path is not None:
        candidates = [Path(path)]
    elif os.environ.get(SHARED_ENV):
        candidates = [Path(os.environ[SHARED_ENV])]
    else:
        candidates = [Path.cwd().parent / "shared" / "data"]
    for c in candidates:
        if (c / "words10k").is_dir():
            return c
    return None


def words10k_pair(shared: str | os.PathLike[str]) -> PairedSet:
    """The words10k vocabulary: GloVe-6B 50d vs MiniLM 384d of the same 10,000 words."""
    d = Path(shared) / "words10k"
    X = _load_npy(d / "words10k_glove50.npy", "words10k GloVe")
    Y = _load_npy(d / "words10k_minilm384.npy", "words10k MiniLM")
    return _drop_nonfinite("words10k", "glove", "minilm", X, Y)


def default_pairs(shared: str | os.PathLike[str] | None = None) -> tuple[list[PairedSet], str]:
    """The pairs of the default run and a note on where they came from.

    The bundled ImageNet-1k pairs always; words10k (GloVe vs MiniLM) when the shared data
    directory is found (:func:`find_shared_data`).
    """
    pairs = imagenet1k_pairs()
    found = find_shared_data(shared)
    if found is None:
        where = shared if shared is not None else os.environ.get(SHARED_ENV, "../shared/data")
        return pairs, f"words10k skipped: no shared data directory with words10k/ at {where}"
    pairs.append(words10k_pair(found))
    try:
        shown = os.path.relpath(found / "words10k")
    except ValueError:  # another drive (Windows)
        shown = str(found / "words10k")
    return pairs, f"words10k read from {shown}"


def _load_npy(path: str | os.PathLike[str], what: str) -> np.ndarray:
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{what}: no such file: {p}")
    try:
        arr = np.load(p, allow_pickle=False)
    except Exception as exc:  # numpy raises several types for a file that is not .npy
        raise ValueError(f"{what}: cannot read {p} as a .npy array ({exc})") from None
    if not isinstance(arr, np.ndarray):
        raise ValueError(f"{what}: {p} holds several arrays (.npz); give one .npy array")
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"{what}: {p} must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{what}: {p} must be a 2-D array (n, d), got shape {arr.shape}")
    if arr.shape[0] < 4 or arr.shape[1] < 1:
        raise ValueError(f"{what}: {p} needs at least 4 rows and 1 column, got {arr.shape}")
    return arr if arr.dtype in (np.float32, np.float64) else arr.astype(np.float32)


def _names(x_path: str | os.PathLike[str], y_path: str | os.PathLike[str]) -> tuple[str, str]:
    xs, ys = Path(x_path).stem, Path(y_path).stem
    return ("X", "Y") if xs == ys else (xs, ys)


def load_pair_files(
    x_path: str | os.PathLike[str], y_path: str | os.PathLike[str], name: str | None = None
) -> PairedSet:
    """A user pair from two ``.npy`` files whose rows are paired by position.

    Rows with a NaN or infinite value in either file are dropped, with a note. Raises
    ``ValueError`` (saying which file and what is wrong) for a missing or unreadable file, an
    array that is not 2-D and real, or different row counts.
    """
    X = _load_npy(x_path, "--x")
    Y = _load_npy(y_path, "--y")
    if X.shape[0] != Y.shape[0]:
        raise ValueError(
            "X and Y must have the same number of rows (paired by position): "
            f"{x_path} has shape {X.shape}, {y_path} has shape {Y.shape}"
        )
    xs, ys = _names(x_path, y_path)
    pair = _drop_nonfinite(name or "user", xs, ys, X, Y)
    if pair.n < 4:
        raise ValueError(f"{pair.name}: fewer than 4 complete rows remain ({pair.n})")
    return pair


def _by_position(paths: list[Path]) -> bool:
    """Plain ``.npy`` files without a ``.words.txt`` beside them pair rows by position."""
    plain = [p.suffix == ".npy" and not p.with_name(p.stem + ".words.txt").exists() for p in paths]
    if any(plain) and not all(plain):
        shown = ", ".join(str(p) for p, b in zip(paths, plain) if b)
        raise ValueError(
            f"{shown}: a .npy file without a .words.txt beside it pairs rows by position, but "
            "the other files have words; give all four with words or all four as plain .npy"
        )
    return all(plain)


def load_train_test_files(
    train_x: str | os.PathLike[str],
    train_y: str | os.PathLike[str],
    test_x: str | os.PathLike[str],
    test_y: str | os.PathLike[str],
    name: str | None = None,
) -> PairedSet:
    """A user pair with a fixed split: maps train on the first two files, are measured on the
    other two.

    Plain ``.npy`` files pair rows by position (NaN rows dropped with a note); embedding files
    (word2vec, GloVe, fastText, or ``.npy`` with a ``.words.txt``) pair rows by word: the words
    both files of a part share, in the X file's order; a word in both the training and the test
    part is dropped from the training part (noted), so no test item is trained on.
    """
    paths = [Path(p) for p in (train_x, train_y, test_x, test_y)]
    flags = ("--train-x", "--train-y", "--test-x", "--test-y")
    for p, flag in zip(paths, flags):
        if not p.is_file():
            raise ValueError(f"{flag}: no such file: {p}")
    label = name or "user"
    notes: list[str] = []
    if _by_position(paths):
        arrays = [_load_npy(p, f) for p, f in zip(paths, flags)]
        parts = []
        for (X, Y), part, (fx, fy) in (
            ((arrays[0], arrays[1]), "training", (paths[0], paths[1])),
            ((arrays[2], arrays[3]), "test", (paths[2], paths[3])),
        ):
            if X.shape[0] != Y.shape[0]:
                raise ValueError(
                    f"{part} part: X and Y must have the same number of rows (paired by "
                    f"position): {fx} has shape {X.shape}, {fy} has shape {Y.shape}"
                )
            ps = _drop_nonfinite(f"{label} {part} part", "X", "Y", X, Y)
            notes.extend(ps.notes)
            parts.append(ps)
        Xtr, Ytr, Xte, Yte = parts[0].X, parts[0].Y, parts[1].X, parts[1].Y
        notes.append(f"{label}: rows paired by position")
    else:
        from ..io import align, load

        embs = [load(p) for p in paths]
        tr = align(embs[0], embs[1])
        te = align(embs[2], embs[3])
        test_words = set(te.a.words)
        keep = np.array([w not in test_words for w in tr.a.words], dtype=bool)
        notes.append(
            f"{label}: rows paired by word: {len(tr.a)} training words in both training files, "
            f"{len(te.a)} test words in both test files"
        )
        if not keep.all():
            notes.append(
                f"{label}: {int((~keep).sum())} words of the training part are also test words "
                "and were dropped from training"
            )
        Xtr, Ytr = tr.a.vectors[keep], tr.b.vectors[keep]
        Xte, Yte = te.a.vectors, te.b.vectors
    for part, X in (("training", Xtr), ("test", Xte)):
        if X.shape[0] < 4:
            raise ValueError(
                f"{label}: the {part} part has fewer than 4 paired rows ({X.shape[0]})"
            )
    for side, a, b in (("X", Xtr, Xte), ("Y", Ytr, Yte)):
        if a.shape[1] != b.shape[1]:
            raise ValueError(
                f"{label}: {side} of the training part has {a.shape[1]} columns but the test "
                f"part has {b.shape[1]}"
            )
    xs, ys = _names(train_x, train_y)
    X = np.concatenate([Xtr, Xte]).astype(np.result_type(Xtr, Xte), copy=False)
    Y = np.concatenate([Ytr, Yte]).astype(np.result_type(Ytr, Yte), copy=False)
    test_rows = np.arange(Xtr.shape[0], X.shape[0])
    return PairedSet(label, xs, ys, X, Y, tuple(notes), test_rows=test_rows)
