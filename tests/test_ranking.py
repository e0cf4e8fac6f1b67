"""The ranking helpers every model and metric share: one tie rule, checked against slow loops."""

import numpy as np
import pandas as pd
import pytest

from recsys_course.ids import id_index, positions
from recsys_course.ranking import check_list, check_n, rank_by_score, top_n


def test_ties_in_scores_are_broken_by_item_id():
    assert rank_by_score(pd.Series({3: 1.0, 1: 1.0, 2: 5.0, 0: 0.5})) == [2, 1, 3, 0]
    assert rank_by_score({"b": 1.0, "a": 1.0}, k=1) == ["a"]


def _slow_top_n(row: np.ndarray, n: int) -> list:
    """Sort every listable column by (-score, column), keep n: the tie rule written plainly."""
    listable = [c for c in range(len(row)) if not np.isnan(row[c]) and row[c] > -np.inf]
    return sorted(listable, key=lambda c: (-row[c], c))[:n]


@pytest.mark.parametrize("seed", range(40))
def test_top_n_equals_a_plain_sort_with_ties_nan_and_infinities(seed):
    rng = np.random.default_rng(seed)
    rows, width = rng.integers(1, 6), rng.integers(1, 25)
    S = rng.integers(0, 4, (rows, width)).astype(float)             # few distinct values: many ties
    S[rng.random((rows, width)) < 0.2] = -np.inf                    # excluded (seen, say)
    S[rng.random((rows, width)) < 0.1] = np.nan                     # not scorable
    S[rng.random((rows, width)) < 0.05] = np.inf
    n = int(rng.integers(1, 30))
    cols, values = top_n(S, n)
    for r in range(rows):
        expected = _slow_top_n(S[r], n)
        got = [c for c in cols[r] if c >= 0]
        assert got == expected
        np.testing.assert_array_equal(values[r][: len(got)], S[r][expected])
        assert (values[r][len(got):] == -np.inf).all()


def test_top_n_on_a_real_size_block_matches_argsort():
    rng = np.random.default_rng(0)
    S = rng.normal(size=(300, 1682))
    cols, _ = top_n(S, 10)
    np.testing.assert_array_equal(cols, np.argsort(-S, axis=1, kind="stable")[:, :10])


def test_checks_name_the_bad_value():
    with pytest.raises(ValueError, match="n must be an integer >= 1, got 0"):
        check_n(0)
    with pytest.raises(ValueError, match=r"duplicate items \['a'\]"):
        check_list(["a", "b", "a"])


def test_ids_are_numbered_in_sorted_order_and_mixed_types_are_refused():
    ids = id_index([30, 10, 20, 10], "user_id")
    assert ids.tolist() == [10, 20, 30] and ids.name == "user_id"
    assert positions(ids, [20, 99]).tolist() == [1, -1]
    with pytest.raises(TypeError, match=r"user_id mix types that cannot be ordered \(int, str\)"):
        id_index(["1", 1, 2], "user_id")
