"""Merge maths on tiny hand-computed arrays, the registry, and bit-for-bit determinism."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from swarm_learning.merge import (
    METHODS,
    MeanAccumulator,
    choose_merge,
    coordmedian,
    geomedian,
    get_method,
    krum,
    mean,
    trimmedmean,
)
from swarm_learning.merge._common import det_sum
from swarm_network.errors import ConfigError, InvalidWeights


def rows(*values: list[float]) -> np.ndarray:
    return np.array(values, dtype=np.float64)


# --- mean -------------------------------------------------------------------------------


def test_weighted_mean_by_hand() -> None:
    stack = rows([1.0, 2.0], [3.0, 6.0], [5.0, -4.0])
    weights = np.array([1.0, 2.0, 1.0])
    # (1*1 + 2*3 + 1*5) / 4 = 3 ; (1*2 + 2*6 + 1*-4) / 4 = 2.5
    assert mean.merge(stack, weights).tolist() == [3.0, 2.5]


def test_weights_are_normalised_inside() -> None:
    stack = rows([1.0, 2.0], [3.0, 6.0], [5.0, -4.0])
    once = mean.merge(stack, np.array([1.0, 2.0, 1.0]))
    scaled = mean.merge(stack, np.array([10.0, 20.0, 10.0]))
    assert once.tolist() == scaled.tolist()


def test_zero_weight_row_is_ignored() -> None:
    stack = rows([1.0], [3.0], [1e6])
    assert mean.merge(stack, np.array([1.0, 1.0, 0.0])).tolist() == [2.0]


def test_mean_accumulator_equals_merge_bit_for_bit() -> None:
    rng = np.random.default_rng(1)
    stack = rng.normal(size=(5, 1000))
    weights = rng.uniform(0.1, 3.0, size=5)
    acc = MeanAccumulator(1000)
    for row, weight in zip(stack, weights, strict=True):
        acc.add_parts([row], weight)
    assert acc.result().tobytes() == mean.merge(stack, weights).tobytes()


def test_mean_accumulator_with_no_positive_weight_has_nothing_to_merge() -> None:
    acc = MeanAccumulator(2)
    acc.add_parts([np.array([1.0, 2.0])], 0.0)
    with pytest.raises(ConfigError, match="nothing to merge"):
        acc.result()


# --- coordinate-wise median -------------------------------------------------------------


def test_coordmedian_ignores_an_outlier() -> None:
    stack = rows([1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [1000.0, -1000.0])
    weights = np.ones(4)
    # Even count, equal weights: midpoint of the two middle values, like np.median.
    assert coordmedian.merge(stack, weights).tolist() == [2.5, 15.0]
    assert coordmedian.merge(stack[:3], weights[:3]).tolist() == [2.0, 20.0]


def test_coordmedian_weights_move_the_median() -> None:
    stack = rows([1.0], [2.0], [3.0])
    # Cumulative weights 1, 2, 6 of total 6: the first reaching 3 is value 3.
    assert coordmedian.merge(stack, np.array([1.0, 1.0, 4.0])).tolist() == [3.0]
    # Cumulative 1, 3, 4 of total 4: value 2 is the first past half -> 2.
    assert coordmedian.merge(stack, np.array([1.0, 2.0, 1.0])).tolist() == [2.0]
    # Cumulative 1, 2, 4 of total 4: exactly half at value 2 -> midpoint of 2 and 3.
    assert coordmedian.merge(stack, np.array([1.0, 1.0, 2.0])).tolist() == [2.5]


def test_coordmedian_matches_numpy_median_for_equal_weights() -> None:
    rng = np.random.default_rng(2)
    for count in (1, 2, 5, 6):
        stack = rng.normal(size=(count, 50))
        result = coordmedian.merge(stack, np.full(count, 3.0))
        assert np.array_equal(result, np.median(stack, axis=0))


# --- trimmed mean -----------------------------------------------------------------------


def test_trimmedmean_drops_extremes_per_coordinate() -> None:
    stack = rows([1.0, 100.0], [2.0, 3.0], [3.0, 2.0], [4.0, 1.0], [-50.0, 4.0])
    # beta 0.2 of 5 rows: cut 1 at each end of each coordinate.
    # col 0 sorted: -50, 1, 2, 3, 4 -> keep 1, 2, 3 -> 2 ; col 1: 1, 2, 3, 4, 100 -> 3
    assert trimmedmean.merge(stack, np.ones(5), beta=0.2).tolist() == [2.0, 3.0]


def test_trimmedmean_uses_weights_of_kept_rows() -> None:
    stack = rows([0.0], [1.0], [2.0], [9.0])
    # beta 0.25 of 4 rows cuts 0.0 and 9.0; kept 1.0 (w=1) and 2.0 (w=3) -> 7/4
    weights = np.array([5.0, 1.0, 3.0, 5.0])
    assert trimmedmean.merge(stack, weights, beta=0.25).tolist() == [1.75]


def test_trimmedmean_without_trimming_is_the_mean() -> None:
    rng = np.random.default_rng(3)
    stack = rng.normal(size=(4, 20))
    weights = np.array([1.0, 2.0, 3.0, 4.0])
    assert np.array_equal(trimmedmean.merge(stack, weights, beta=0.1), mean.merge(stack, weights))


@pytest.mark.parametrize("beta", [-0.1, 0.5, 0.9, "0.1", True, float("nan")])
def test_trimmedmean_refuses_bad_beta(beta: object) -> None:
    with pytest.raises(ConfigError, match=r"'trimmedmean': beta must be a number in \[0, 0.5\)"):
        choose_merge("trimmedmean", {"beta": beta})


# --- geometric median -------------------------------------------------------------------


def test_geomedian_of_symmetric_points_is_the_centre() -> None:
    stack = rows([1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0])
    assert geomedian.merge(stack, np.ones(4)).tolist() == [0.0, 0.0]


def test_geomedian_in_one_dimension_is_the_median() -> None:
    stack = rows([0.0], [1.0], [100.0])
    result = geomedian.merge(stack, np.ones(3), max_iter=1000, tol=1e-12)
    assert result[0] == pytest.approx(1.0, abs=1e-4)
    # The mean would be 33.67: the outlier barely moves the geometric median.


def test_geomedian_resists_an_outlier_in_the_plane() -> None:
    honest = rows([1.0, 1.0], [-1.0, 1.0], [1.0, -1.0], [-1.0, -1.0])
    stack = np.vstack([honest, rows([1000.0, 1000.0])])
    result = geomedian.merge(stack, np.ones(5), max_iter=500, tol=1e-10)
    assert np.abs(result).max() < 1.0
    assert np.abs(mean.merge(stack, np.ones(5))).max() > 100.0


def test_geomedian_max_iter_zero_is_the_weighted_mean() -> None:
    stack = rows([0.0], [1.0], [100.0])
    weights = np.array([1.0, 2.0, 1.0])
    result = geomedian.merge(stack, weights, max_iter=0)
    assert result.tolist() == mean.merge(stack, weights).tolist()


# --- krum / multi-krum ------------------------------------------------------------------


def test_krum_picks_from_the_honest_cluster() -> None:
    stack = rows([0.0, 0.0], [0.1, 0.0], [0.0, 0.1], [0.1, 0.1], [100.0, 100.0])
    result = krum.krum(stack, np.ones(5), f=1)
    # Scores with k = 5 - 1 - 2 = 2 neighbours: rows 0..3 score 0.02 each (ties),
    # the outlier far more; tie -> lowest row index.
    assert result.tolist() == [0.0, 0.0]


def test_krum_tie_break_is_lowest_index() -> None:
    assert krum.scores(rows([5.0], [7.0], [5.0], [7.0], [6.0]), 1) == [1.0, 1.0, 1.0, 1.0, 2.0]
    pick = krum.krum(rows([5.0], [7.0], [5.0], [7.0], [6.0]), np.ones(5), f=1)
    # Scores (k=2): 5->0+1=1, 7->0+1=1, 5->1, 7->1, 6->1+1=2: all tied rows -> row 0.
    assert pick.tolist() == [5.0]


def test_multikrum_averages_the_best_rows() -> None:
    stack = rows([0.0, 0.0], [0.1, 0.0], [0.0, 0.1], [0.1, 0.1], [100.0, 100.0])
    weights = np.array([1.0, 1.0, 1.0, 1.0, 1.0])
    # Default m = P - f = 4: the honest rows, averaged.
    assert np.allclose(krum.multikrum(stack, weights, f=1), [0.05, 0.05])
    # m = 2 with tied scores: rows 0 and 1.
    assert np.allclose(krum.multikrum(stack, weights, f=1, m=2), [0.05, 0.0])


def test_krum_warns_when_too_few_rows(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        krum.krum(rows([0.0], [1.0], [2.0]), np.ones(3), f=1)
    assert "cannot guarantee" in caplog.text


def test_krum_refuses_bad_params() -> None:
    for name in ("krum", "multikrum"):
        with pytest.raises(ConfigError, match=f"'{name}': f must be an int >= 0, got -1"):
            choose_merge(name, {"f": -1})
    with pytest.raises(ConfigError, match="m must be an int >= 1"):
        choose_merge("multikrum", {"m": 0})
    # How many rows a step has is known only when it merges.
    with pytest.raises(ConfigError, match="m must be"):
        choose_merge("multikrum", {"f": 0, "m": 3}).merge_rows(rows([0.0], [1.0]), np.ones(2))


# --- shared checks and registry ---------------------------------------------------------


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_refuses_nan_and_bad_weights(name: str) -> None:
    merge = get_method(name).merge
    with pytest.raises(InvalidWeights):
        merge(rows([1.0, np.nan], [1.0, 2.0]), np.ones(2))
    with pytest.raises(ConfigError):
        merge(rows([1.0], [2.0]), np.array([1.0, -1.0]))
    with pytest.raises(ConfigError):
        merge(rows([1.0], [2.0]), np.zeros(2))
    with pytest.raises(ValueError):
        merge(rows([1.0], [2.0]), np.ones(3))


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_returns_the_row_when_all_rows_agree(name: str) -> None:
    row = [0.1, -2.5, 3.0]
    merge = get_method(name).merge
    result = merge(rows(row, row, row, row, row), np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    assert result.tolist() == row


def test_get_method_is_case_insensitive_and_lists_known_names() -> None:
    assert get_method(" MultiKrum ").merge is krum.multikrum
    assert get_method("MEAN").merge is mean.merge
    with pytest.raises(ConfigError, match="known methods: coordmedian, geomedian, krum"):
        get_method("fedprox")
    with pytest.raises(ConfigError, match="unknown merge method 3"):
        get_method(3)


def test_det_sum_is_exactly_rounded_on_cancellation() -> None:
    vector = np.array([1e16, 1.0, -1e16] + [0.0] * 70000 + [1.0])
    assert det_sum(vector) == 2.0  # naive left-to-right float sum would give 1.0


# --- determinism ------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(METHODS))
def test_merge_is_bit_identical_after_shuffle_and_resort(name: str) -> None:
    """Nodes receive files in any order; sorted back by address they must agree on bits."""
    rng = np.random.default_rng(4)
    count = 7
    addresses = [f"0x{index:040x}" for index in rng.permutation(1000)[:count]]
    stack = rng.normal(size=(count, 5003)) * rng.uniform(1e-3, 1e3, size=(count, 1))
    weights = rng.integers(1, 10, size=count).astype(np.float64)
    merge = get_method(name).merge

    def merged_from(order: np.ndarray) -> bytes:
        received = [(addresses[i], stack[i].copy(), weights[i]) for i in order]
        received.sort(key=lambda item: item[0])
        sorted_stack = np.stack([item[1] for item in received])
        sorted_weights = np.array([item[2] for item in received])
        return merge(sorted_stack, sorted_weights).tobytes()

    reference = merged_from(np.arange(count))
    for _ in range(3):
        assert merged_from(rng.permutation(count)) == reference


def test_mean_added_tensor_by_tensor_in_chunks_is_bit_identical(monkeypatch) -> None:
    """The learner streams each contribution tensor by tensor through a small scratch
    buffer; that must give exactly the bytes of the one-shot mean."""
    from swarm_learning.merge import mean as mean_module

    monkeypatch.setattr(mean_module, "CHUNK", 7)  # force many chunks, crossing tensors
    rng = np.random.default_rng(3)
    tensors = [
        [rng.normal(size=(5, 4)).astype(np.float32), rng.normal(size=9).astype(np.float32)]
        for _ in range(3)
    ]
    weights = np.array([1.0, 2.5, 0.5])
    rows = np.stack([np.concatenate([t.reshape(-1) for t in parts]) for parts in tensors])
    expected = mean_module.merge(rows.astype(np.float64), weights)
    acc = mean_module.MeanAccumulator(rows.shape[1])
    for parts, weight in zip(tensors, weights, strict=True):
        acc.add_parts(parts, float(weight))
    assert acc.result().tobytes() == expected.tobytes()


def test_mean_in_segments_is_bit_identical_and_hands_each_segment_over(monkeypatch) -> None:
    """The learner keeps one running sum per tensor, fed with pieces that do not line up with
    the tensors, and takes the result tensor by tensor: still the one-shot mean's bytes."""
    from swarm_learning.merge import mean as mean_module

    monkeypatch.setattr(mean_module, "CHUNK", 5)
    rng = np.random.default_rng(8)
    sizes = [6, 1, 0, 11]
    stack = rng.normal(size=(4, sum(sizes)))
    weights = np.array([2.0, 0.5, 1.0, 3.0])
    expected = mean_module.merge(stack, weights)
    accumulators = [MeanAccumulator(sum(sizes), segments=sizes) for _ in range(2)]
    for acc in accumulators:
        for row, weight in zip(stack, weights, strict=True):
            acc.add_parts(np.array_split(row, [3, 4, 13]), float(weight))  # cuts across segments
    whole, by_segment = accumulators
    assert whole.result().tobytes() == expected.tobytes()
    segments = list(by_segment.take_segments())
    assert [s.size for s in segments] == sizes
    assert np.concatenate(segments).tobytes() == expected.tobytes()
    with pytest.raises(ValueError, match="already taken"):
        by_segment.result()


def test_mean_accumulator_refuses_a_contribution_of_the_wrong_length() -> None:
    acc = MeanAccumulator(5, segments=[2, 3])
    with pytest.raises(ValueError, match="expected 5"):
        acc.add_parts([np.ones(4)], 1.0)
    with pytest.raises(ValueError, match="longer than 5"):
        acc.add_parts([np.ones(3), np.ones(3)], 1.0)
    with pytest.raises(ValueError, match="do not split"):
        MeanAccumulator(5, segments=[2, 2])


@pytest.mark.parametrize("rows", [2, 3, 5, 8, 23, 24, 31])
@pytest.mark.parametrize("uniform", [True, False])
def test_sorted_column_blocks_are_the_stable_sort(rows: int, uniform: bool) -> None:
    """Both sorting paths (the compare-and-swap network, numpy's sort from NETWORK_MAX_ROWS
    rows on) give exactly a stable argsort along the rows, weights carried along; ties and
    signed zeros included, blocks of any width."""
    from swarm_learning.merge.sorted_columns import sorted_column_blocks

    rng = np.random.default_rng(rows)
    stack = rng.integers(-3, 4, size=(rows, 101)).astype(np.float64)  # many ties
    stack[rng.random(stack.shape) < 0.1] = -0.0
    weights = np.ones(rows) if uniform else rng.integers(1, 9, size=rows).astype(np.float64)
    order = np.argsort(stack, axis=0, kind="stable")
    expected_values = np.take_along_axis(stack, order, axis=0)
    expected_weights = weights[order]
    blocks = list(sorted_column_blocks(stack, weights, block_columns=17))
    assert [(b.start, b.stop) for b in blocks][-1] == (85, 101)
    values = np.concatenate([b.values for b in blocks], axis=1)
    assert values.tobytes() == expected_values.tobytes()  # -0.0 and 0.0 in stable order
    if uniform:
        assert all(b.weights is None for b in blocks)
    else:
        carried = np.concatenate([b.weights for b in blocks], axis=1)
        assert carried.tobytes() == expected_weights.tobytes()
