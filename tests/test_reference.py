"""The pure-Python reference alone, against examples small enough to work out by hand.

Every expected value below was worked out on paper from the definitions in semantics.md, not by
running the code: the reference is the oracle of the other tests, so it must not grade itself.
"""

from __future__ import annotations

import math

import pytest

from nnoverlap import reference as ref

# Four points on a line: 0, 1, 3, 7.
#   l2 distances   from 0: 1, 3, 7   from 1: 1, 2, 6   from 3: 3, 2, 4   from 7: 7, 6, 4
#   ip products    from 0: 0, 0, 0   from 1: 0, 3, 7   from 3: 0, 3, 21  from 7: 0, 7, 21
LINE = [[0.0], [1.0], [3.0], [7.0]]
# A second view of the same four items: 0, 5, 3, 4.
#   l2 distances   from 0: 5, 3, 4   from 5: 5, 2, 1   from 3: 3, 2, 1   from 4: 4, 1, 1
LINE_B = [[0.0], [5.0], [3.0], [4.0]]
# Four 2-D directions: e1, e2, e1 + e2, -e1.
#   cosines  from e1: e2 0, e1+e2 1/sqrt2, -e1 -1      from e2: e1 0, e1+e2 1/sqrt2, -e1 0
#            from e1+e2: 1/sqrt2, 1/sqrt2, -1/sqrt2    from -e1: -1, 0, -1/sqrt2
PLANE = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]]
R = 1 / math.sqrt(2)


# ---------------------------------------------------------------------------------------------
# knn, self-join
# ---------------------------------------------------------------------------------------------


def test_l2_line_all_neighbours():
    scores, indices = ref.knn(LINE, 3, metric="l2")
    assert indices == [[1, 2, 3], [0, 2, 3], [1, 0, 3], [2, 1, 0]]
    assert scores == [[1, 3, 7], [1, 2, 6], [2, 3, 4], [4, 6, 7]]


def test_l2_line_k2_is_a_prefix():
    scores, indices = ref.knn(LINE, 2, metric="l2")
    assert indices == [[1, 2], [0, 2], [1, 0], [2, 1]]
    assert scores == [[1, 3], [1, 2], [2, 3], [4, 6]]


def test_l2_reports_distance_not_squared():
    scores, indices = ref.knn([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]], 1, metric="l2")
    assert indices == [[1], [0], [1]]
    assert scores == [[5.0], [5.0], [5.0]]


def test_ip_line_ties_go_to_the_lower_index():
    scores, indices = ref.knn(LINE, 3, metric="ip")
    # Row 0 scores 0 against everybody: a three-way tie, broken by index.
    assert indices == [[1, 2, 3], [3, 2, 0], [3, 1, 0], [2, 1, 0]]
    assert scores == [[0, 0, 0], [7, 3, 0], [21, 3, 0], [21, 7, 0]]


def test_cosine_plane():
    scores, indices = ref.knn(PLANE, 3)  # cosine is the default
    # Row 1 (e2) is orthogonal to both e1 and -e1: the tie at 0 goes to index 0 first.
    # Row 2 (e1+e2) sees e1 and e2 at the same angle: index 0 first.
    assert indices == [[2, 1, 3], [2, 0, 3], [0, 1, 3], [1, 2, 0]]
    expected = [[R, 0, -1], [R, 0, 0], [R, R, -R], [0, -R, -1]]
    for got, want in zip(scores, expected):
        assert got == pytest.approx(want, abs=1e-15)


def test_cosine_ignores_length():
    # e1 + e2 scaled by 10 has the same cosines as e1 + e2.
    scaled = [row[:] for row in PLANE]
    scaled[2] = [10.0, 10.0]
    assert ref.knn(scaled, 3)[1] == ref.knn(PLANE, 3)[1]


def test_equal_scores_keep_index_order_for_duplicate_rows():
    X = [[1.0, 2.0], [5.0, 5.0], [1.0, 2.0], [1.0, 2.0]]
    # Rows 0, 2, 3 are the same point: each sees its two copies at distance 0, lower index first.
    _, indices = ref.knn(X, 3, metric="l2")
    assert indices == [[2, 3, 1], [0, 2, 3], [0, 3, 1], [0, 2, 1]]


# ---------------------------------------------------------------------------------------------
# include_self
# ---------------------------------------------------------------------------------------------


def test_include_self_l2():
    scores, indices = ref.knn(LINE, 2, metric="l2", include_self=True)
    assert indices == [[0, 1], [1, 0], [2, 1], [3, 2]]
    assert scores == [[0, 1], [0, 1], [0, 2], [0, 4]]


def test_include_self_ip_puts_self_first_even_when_not_best():
    scores, indices = ref.knn(LINE, 2, metric="ip", include_self=True)
    # Row 1 (x=1): self scores 1, but row 3 scores 7; self still comes first.
    assert indices == [[0, 1], [1, 3], [2, 3], [3, 2]]
    assert scores == [[0, 0], [1, 7], [9, 21], [49, 21]]


def test_include_self_cosine_scores_one():
    scores, indices = ref.knn(PLANE, 2, include_self=True)
    assert indices == [[0, 2], [1, 2], [2, 0], [3, 1]]
    assert [row[0] for row in scores] == [1.0, 1.0, 1.0, 1.0]


def test_include_self_with_a_duplicate_row_of_lower_index():
    X = [[1.0, 2.0], [1.0, 2.0], [0.0, 0.0]]
    # Without include_self row 1's nearest is its copy, row 0; with it, row 1 comes first.
    assert ref.knn(X, 2, metric="l2")[1] == [[1, 2], [0, 2], [0, 1]]
    assert ref.knn(X, 2, metric="l2", include_self=True)[1] == [[0, 1], [1, 0], [2, 0]]


def test_include_self_allows_k_up_to_n_minus_1():
    _, indices = ref.knn(LINE, 3, metric="l2", include_self=True)
    assert indices == [[0, 1, 2], [1, 0, 2], [2, 1, 0], [3, 2, 1]]


# ---------------------------------------------------------------------------------------------
# knn, queries against a base
# ---------------------------------------------------------------------------------------------


def test_query_l2_with_ties():
    # q=2: distances 2, 1, 1, 5 -> rows 1 and 2 tie.  q=5: distances 5, 4, 2, 2 -> rows 2, 3 tie.
    scores, indices = ref.knn([[2.0], [5.0]], 2, base=LINE, metric="l2")
    assert indices == [[1, 2], [2, 3]]
    assert scores == [[1, 1], [2, 2]]
    _, indices = ref.knn([[2.0], [5.0]], 4, base=LINE, metric="l2")
    assert indices == [[1, 2, 0, 3], [2, 3, 1, 0]]


def test_query_mode_keeps_identical_rows():
    # Query mode has no "self": a query equal to a base row finds it at distance 0.
    scores, indices = ref.knn(LINE, 1, base=LINE, metric="l2")
    assert indices == [[0], [1], [2], [3]]
    assert scores == [[0], [0], [0], [0]]


def test_query_ip():
    # q=(1, -1) against the plane: e1 1, e2 -1, e1+e2 0, -e1 -1.
    scores, indices = ref.knn([[1.0, -1.0], [0.0, 2.0]], 4, base=PLANE, metric="ip")
    assert indices == [[0, 2, 1, 3], [1, 2, 0, 3]]
    assert scores == [[1, 0, -1, -1], [2, 2, 0, 0]]


# ---------------------------------------------------------------------------------------------
# nno, mnno, overlap
# ---------------------------------------------------------------------------------------------


def test_nno_and_mnno_by_hand():
    # NN^2 in LINE:   {1,2} {0,2} {1,0} {2,1}
    # NN^2 in LINE_B: {2,3} {3,2} {3,1} {1,2}   (row 3 of B: rows 1 and 2 tie at 1)
    assert ref.nno(LINE, LINE_B, 2, metric="l2") == [1, 1, 1, 2]
    assert ref.mnno(LINE, LINE_B, 2, metric="l2") == 5 / 8
    # NN^1: [1] [0] [1] [2]  vs  [2] [3] [3] [1] -> nothing in common.
    assert ref.nno(LINE, LINE_B, 1, metric="l2") == [0, 0, 0, 0]
    # k = n - 1: every other item is a neighbour in both.
    assert ref.mnno(LINE, LINE_B, 3, metric="l2") == 1.0


def test_mnno_several_k():
    assert ref.mnno(LINE, LINE_B, [1, 2, 3], metric="l2") == [0.0, 0.625, 1.0]
    assert ref.mnno(LINE, LINE_B, [2], metric="l2") == [0.625]
    assert ref.mnno(LINE, LINE_B, (3, 1), metric="l2") == [1.0, 0.0]


def test_mnno_identity_and_symmetry():
    assert ref.mnno(LINE, LINE, 2, metric="l2") == 1.0
    assert ref.mnno(LINE_B, LINE, 2, metric="l2") == 5 / 8


def test_nno_include_self():
    # NN^2 with self: A {0,1} {1,0} {2,1} {3,2};  B {0,2} {1,3} {2,3} {3,1} -> only self shared.
    assert ref.nno(LINE, LINE_B, 2, metric="l2", include_self=True) == [1, 1, 1, 1]
    assert ref.mnno(LINE, LINE_B, 2, metric="l2", include_self=True) == 0.5


def test_nno_allows_different_widths():
    # The same four items in 1-D and 2-D: (x, 0) has the same distances as x.
    wide = [[x, 0.0] for [x] in LINE]
    assert ref.nno(LINE, wide, 2, metric="l2") == [2, 2, 2, 2]


def test_overlap():
    I = [[1, 2, 3], [4, 5, 6]]  # noqa: E741
    J = [[3, 2, 9], [7, 8, 6]]
    assert ref.overlap(I, J) == [2, 1]
    assert ref.overlap(I, J, k=1) == [0, 0]
    assert ref.overlap(I, J, k=2) == [1, 0]
    assert ref.overlap(I, I) == [3, 3]


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [0, -1, 4])
def test_k_out_of_range_self_join(k):
    with pytest.raises(ValueError, match="1 <= k <= 3"):
        ref.knn(LINE, k, metric="l2")


def test_k_out_of_range_include_self():
    with pytest.raises(ValueError, match="1 <= k <= 3"):
        ref.knn(LINE, 4, metric="l2", include_self=True)


def test_k_out_of_range_query():
    ref.knn([[2.0], [5.0]], 4, base=LINE, metric="l2")  # k = n_base is allowed
    with pytest.raises(ValueError, match="1 <= k <= 4"):
        ref.knn([[2.0], [5.0]], 5, base=LINE, metric="l2")


def test_k_out_of_range_in_a_list():
    with pytest.raises(ValueError, match="1 <= k <= 3"):
        ref.mnno(LINE, LINE_B, [1, 4], metric="l2")


@pytest.mark.parametrize("k", [2.0, "2", None, True])
def test_k_not_an_int(k):
    with pytest.raises(TypeError, match="k must be an int"):
        ref.knn(LINE, k, metric="l2")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_names_the_first_row(bad):
    X = [[0.0, 1.0], [1.0, 1.0], [2.0, bad], [3.0, 1.0], [bad, 1.0]]
    with pytest.raises(ValueError, match="row 2 contains NaN or infinity"):
        ref.knn(X, 2, metric="l2")
    with pytest.raises(ValueError, match="row 2"):
        ref.knn(LINE, 1, base=[[0.0], [1.0], [bad]], metric="l2")


def test_zero_row_under_cosine():
    X = [[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]]
    with pytest.raises(ValueError, match="row 1 is all zeros"):
        ref.knn(X, 1)
    with pytest.raises(ValueError, match="row 1"):
        ref.knn([[1.0, 1.0], [1.0, 2.0]], 1, base=X)
    # ip and l2 are defined there.
    assert ref.knn(X, 1, metric="l2")[1] == [[1], [0], [1]]
    assert ref.knn(X, 2, metric="ip")[1] == [[1, 2], [0, 2], [0, 1]]


def test_unknown_metric_lists_the_metrics():
    with pytest.raises(ValueError, match="'manhattan'.*cosine, ip, l2"):
        ref.knn(LINE, 1, metric="manhattan")
    with pytest.raises(ValueError, match="cosine, ip, l2"):
        ref.mnno(LINE, LINE_B, 1, metric="L2")


def test_different_n_gives_both_shapes():
    with pytest.raises(ValueError, match=r"\(4, 1\) and \(3, 2\)"):
        ref.nno(LINE, [[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], 1)


def test_query_base_different_d_gives_both_shapes():
    with pytest.raises(ValueError, match=r"\(2, 2\) and \(4, 1\)"):
        ref.knn([[1.0, 0.0], [0.0, 1.0]], 1, base=LINE, metric="l2")


def test_include_self_is_for_the_self_join_only():
    with pytest.raises(ValueError, match="self-join only"):
        ref.knn(LINE, 1, base=LINE, metric="l2", include_self=True)


@pytest.mark.parametrize(
    "X",
    [
        [1.0, 2.0, 3.0],  # 1-D
        [[[1.0], [2.0]], [[3.0], [4.0]]],  # 3-D
        [[1.0, 2.0]],  # n = 1
        [],  # n = 0
        [[], []],  # d = 0
        [[1.0, 2.0], [3.0]],  # ragged
    ],
    ids=["1-D", "3-D", "n=1", "n=0", "d=0", "ragged"],
)
def test_bad_shapes(X):
    with pytest.raises(ValueError):
        ref.knn(X, 1, metric="l2")


@pytest.mark.parametrize(
    "X",
    [
        [[1.0, 2.0], [3.0, "4"]],
        [[1.0, 2.0], [3.0, 1j]],
        [[True, False], [False, True]],
        [[1.0, 2.0], [3.0, None]],
        "abc",
    ],
    ids=["str", "complex", "bool", "None", "a string"],
)
def test_not_real_numbers(X):
    with pytest.raises(TypeError):
        ref.knn(X, 1, metric="l2")


def test_integers_and_tuples_are_accepted():
    assert ref.knn(((0, 0), (0, 1), (0, 3)), 1, metric="l2") == (
        [[1.0], [1.0], [2.0]],
        [[1], [0], [1]],
    )


def test_inputs_are_not_modified():
    X = [[0.0, 1.0], [1.0, 1.0], [2.0, 0.0]]
    copy = [row[:] for row in X]
    ref.knn(X, 2, include_self=True)
    ref.mnno(X, X, [1, 2])
    assert X == copy
