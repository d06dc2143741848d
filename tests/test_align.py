"""Property tests of nnoverlap.align: shared words in a's order, rows matched, drops counted."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nnoverlap import Embeddings, align

# Small alphabets make shared words likely; NBSP and a case pair check that nothing is folded.
words = st.lists(st.text(alphabet="abcAB\u00a0é", min_size=1, max_size=3), unique=True, max_size=30)


def embed(ws: list[str], seed: int, dim: int = 3) -> Embeddings:
    rng = np.random.default_rng(seed)
    return Embeddings(ws, rng.normal(size=(len(ws), dim)).astype(np.float32))


@given(words, words, st.integers(1, 4), st.integers(1, 4))
def test_alignment_properties(wa, wb, da, db):
    a, b = embed(wa, 1, da), embed(wb, 2, db)
    al = align(a, b)
    a2, b2 = al
    shared = set(wa) & set(wb)
    # Exactly the shared words, in a's order, the same on both sides.
    assert a2.words == [w for w in wa if w in shared]
    assert b2.words == a2.words
    # Each row is the original row of that word, on each side.
    for i, w in enumerate(a2.words):
        np.testing.assert_array_equal(a2.vectors[i], a[w])
        np.testing.assert_array_equal(b2.vectors[i], b[w])
        assert a.words[al.rows_a[i]] == w and b.words[al.rows_b[i]] == w
    assert a2.vectors.shape == (len(shared), da) and b2.vectors.shape == (len(shared), db)
    # What was dropped from each side.
    assert al.dropped_a == len(wa) - len(shared)
    assert al.dropped_b == len(wb) - len(shared)
    # Aligning again changes nothing; swapping sides keeps the same words.
    again = align(a2, b2)
    assert again[0].words == a2.words and again.dropped_a == again.dropped_b == 0
    assert set(align(b, a)[0].words) == shared


@given(words)
def test_aligning_a_set_with_itself_keeps_it_whole(ws):
    e = embed(ws, 3)
    a2, b2 = align(e, e)
    assert a2 is e and b2 is e


@given(words, st.randoms(use_true_random=False))
def test_alignment_of_a_permutation_reorders_b(ws, rnd):
    a = embed(ws, 4)
    order = list(range(len(ws)))
    rnd.shuffle(order)
    b = Embeddings([ws[i] for i in order], a.vectors[order])
    a2, b2 = align(a, b)
    assert b2.words == ws
    np.testing.assert_array_equal(b2.vectors, a.vectors)


def test_alignment_reports_counts():
    a = embed(["the", "cat", "sat"], 0)
    b = embed(["sat", "dog", "the", "mat"], 1)
    al = align(a, b)
    assert (al.dropped_a, al.dropped_b) == (1, 2)
    assert "2 shared words" in repr(al) and "dropped 1 from a, 2 from b" in repr(al)


def test_align_needs_embeddings():
    with pytest.raises(TypeError, match="must be Embeddings"):
        align(np.eye(2), embed(["a", "b"], 0))
