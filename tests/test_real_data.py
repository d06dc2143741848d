"""Reproduce the reference mNNO values of ../shared/data/README.md on real embeddings.

The reference values are exact float64 brute force, self excluded, ties to the lower index, at
K = 10, rounded to 5 decimals in the table (hence ``abs=5e-6``). They are checked for float32 input
(what users pass) and float64 input (computed in float64). Every test here skips when
../shared/data is absent; CI always has it.
"""

from __future__ import annotations

import numpy as np
import pytest

import nnoverlap as nno

DTYPES = [np.float32, np.float64]


@pytest.fixture(scope="module")
def words(shared_data):
    d = shared_data / "words10k"
    return {
        "glove": np.load(d / "words10k_glove50.npy"),
        "minilm": np.load(d / "words10k_minilm384.npy"),
        "e5": np.load(d / "words10k_e5small384_f16.npy"),
    }


@pytest.fixture(scope="module")
def imagenet(shared_data):
    d = shared_data / "imagenet1k"
    return {
        "visual": np.load(d / "imagenet1k_effnetlite0_fcweight1280.npy"),
        "minilm": np.load(d / "imagenet1k_minilm384.npy"),
        "glove": np.load(d / "imagenet1k_glove50.npy"),
    }


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [("glove", "minilm", 0.22656), ("glove", "e5", 0.18170), ("minilm", "e5", 0.33301)],
)
def test_words10k(words, a, b, expected, dtype):
    # E5 is stored as float16; the reference cast it to float32 (exactly, so float64 is the same).
    value = nno.mnno(words[a].astype(dtype), words[b].astype(dtype), k=10)
    assert value == pytest.approx(expected, abs=5e-6)


def test_words10k_float16_input_is_computed_as_float32(words):
    assert nno.mnno(words["glove"], words["e5"], k=10) == pytest.approx(0.18170, abs=5e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("metric", "expected"), [("cosine", 0.19700), ("l2", 0.13690)])
def test_imagenet_visual_vs_minilm(imagenet, metric, expected, dtype):
    A, B = imagenet["visual"].astype(dtype), imagenet["minilm"].astype(dtype)
    assert nno.mnno(A, B, k=10, metric=metric) == pytest.approx(expected, abs=5e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_imagenet_visual_vs_glove_without_nan_rows(imagenet, dtype):
    keep = ~np.isnan(imagenet["glove"]).any(axis=1)
    assert keep.sum() == 975
    A, B = imagenet["visual"][keep].astype(dtype), imagenet["glove"][keep].astype(dtype)
    assert nno.mnno(A, B, k=10) == pytest.approx(0.16308, abs=5e-6)


def test_imagenet_glove_nan_rows_are_an_error(imagenet):
    glove = imagenet["glove"]
    first = int(np.flatnonzero(np.isnan(glove).any(axis=1))[0])
    pattern = rf"row {first}\b"
    with pytest.raises(ValueError, match=pattern):
        nno.knn(glove, k=10)
    with pytest.raises(ValueError, match=pattern):
        nno.mnno(imagenet["visual"], glove, k=10)


def test_imagenet_duplicate_text_rows(imagenet):
    """Rows 134 = 517 ("crane") and 638 = 639 ("maillot") are identical in MiniLM."""
    text = imagenet["minilm"]
    for i, j in [(134, 517), (638, 639)]:
        assert np.array_equal(text[i], text[j])
    nearest = nno.knn(text, k=1).indices[:, 0]
    assert (nearest[[134, 517, 638, 639]] == [517, 134, 639, 638]).all()
    with_self = nno.knn(text, k=2, include_self=True).indices
    assert with_self[517].tolist() == [517, 134]
    assert with_self[639].tolist() == [639, 638]
    # As queries against the set itself, the copy of lower index comes first: no "self" there.
    as_queries = nno.knn(text, k=2, base=text).indices
    assert as_queries[517].tolist() == [134, 517]
