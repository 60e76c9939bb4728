"""A merge method added as the README's "Adding a merge method" shows: declared in one
value, registered, then chosen by name and run by the step driver like a built-in one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from swarm_learning.merge import (
    Contributor,
    MergeMethod,
    OwnModel,
    Param,
    Reading,
    choose_merge,
    merge_step,
    register,
    registry,
)
from swarm_learning.merge import step as step_module
from swarm_learning.merge._common import check_inputs
from swarm_learning.merge.mean import weighted_rows_mean
from swarm_learning.merge.method import number_in
from swarm_learning.settings import LearnerSettings
from swarm_learning.weights import WeightSchema, encode_weights, flatten, sha256_hex, unflatten
from swarm_network.errors import ConfigError


# --- the README's example, as it would stand in swarm_learning/merge/clippedmean.py -------
def clipped_mean(stack: np.ndarray, weights: np.ndarray, *, limit: float = 1.0) -> np.ndarray:
    stack, weights = check_inputs(stack, weights)
    return weighted_rows_mean(np.clip(stack, -limit, limit), weights)


CLIPPED_MEAN = MergeMethod(
    name="clippedmean",
    merge=clipped_mean,
    reading=Reading.COORDINATE_BLOCKS,  # each coordinate is merged on its own
    params=(Param("limit", number_in(0.0, low_open=True), "a number > 0"),),
)
# -------------------------------------------------------------------------------------------


@pytest.fixture
def with_clipped_mean(monkeypatch: pytest.MonkeyPatch) -> None:
    """The registry with the example added, for this test only."""
    monkeypatch.setattr(registry, "METHODS", dict(registry.METHODS))
    register(CLIPPED_MEAN)


def model(value: float) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(int(value * 10) % 7)
    return {
        "layer.weight": (value + 0.1 * rng.standard_normal((4, 3))).astype(np.float32),
        "layer.bias": np.full(3, value, dtype=np.float32),
    }


@pytest.mark.usefixtures("with_clipped_mean")
def test_a_registered_method_merges_files_block_by_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(step_module, "COLUMN_BLOCK", 5)  # blocks across tensor borders
    own = model(0.2)
    own_hash = sha256_hex(encode_weights(own))
    peers = [model(0.4), model(1000.0)]  # the second one far out: clipped to the limit
    files = {}
    for arrays in peers:
        data = encode_weights(arrays)
        (tmp_path / sha256_hex(data)).write_bytes(data)
        files[sha256_hex(data)] = tmp_path / sha256_hex(data)
    contributors = [
        Contributor(f"0x{i:040x}", h, weight)
        for i, (h, weight) in enumerate(zip([own_hash, *files], [1.0, 2.0, 1.0], strict=True))
    ]
    schema = WeightSchema.from_arrays(own)
    choice = choose_merge("ClippedMean", {"limit": 0.5})

    merged = merge_step(
        contributors, files, own=OwnModel(own_hash, own), schema=schema, choice=choice
    )

    assert merged.merged_from == tuple(c.address for c in contributors)
    stack = np.stack([flatten(arrays, schema) for arrays in [own, *peers]])
    whole = unflatten(clipped_mean(stack, np.array([1.0, 2.0, 1.0]), limit=0.5), schema)
    assert encode_weights(merged.arrays) == encode_weights(whole)  # blocks = whole stack
    expected_bias = (0.2 + 2 * 0.4 + 0.5) / 4  # 1000 counts as the limit, 0.5
    np.testing.assert_allclose(merged.arrays["layer.bias"], expected_bias, rtol=1e-6)


@pytest.mark.usefixtures("with_clipped_mean")
def test_a_registered_method_has_its_parameters_checked_like_any_other() -> None:
    with pytest.raises(ConfigError, match="'clippedmean': limit must be a number > 0, got 0"):
        choose_merge("clippedmean", {"limit": 0})
    with pytest.raises(ConfigError, match="'clippedmean': limit must be a number > 0"):
        LearnerSettings.resolve(
            {"merge_method": "clippedmean", "merge_params": '{"limit": -1}'}, environ={}
        )
    settings = LearnerSettings.resolve({"mergeMethod": "ClippedMean"}, environ={})
    assert settings.merge_choice().method is CLIPPED_MEAN
    with pytest.raises(ConfigError, match="known methods: clippedmean, coordmedian"):
        choose_merge("fedprox", {})
    with pytest.raises(ValueError, match="already registered"):
        register(CLIPPED_MEAN)


def test_a_method_declares_a_consistent_reading() -> None:
    with pytest.raises(ValueError, match="accumulator"):
        MergeMethod(name="streamless", merge=clipped_mean, reading=Reading.STREAMED)
    with pytest.raises(ValueError, match="lowercase"):
        MergeMethod(name="Clipped", merge=clipped_mean, reading=Reading.WHOLE_ROWS)
