"""The contract's gas per check-in, close and report does not grow with the swarm.

A property, not a timing: gas is exact and the same on every run. The scenario is
`tests/gas_scenario.py` (also printed for 4..64 learners by `benchmarks/chain_gas.py`).
One embedded chain for the module: gas is the EVM's, the same on anvil.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from chain_helpers import ChainEndpoint, deploy_swarm, run_chain
from gas_scenario import KINDS, GasFigures, measure_gas

# A walk over the enrolled nodes costs several thousand gas per node: at 64 learners against
# 4 it would add far more than this (the walking contract measured 2.2x to 5.4x).
MAX_GROWTH = 1.05


@pytest.fixture(scope="module")
def endpoint() -> Iterator[ChainEndpoint]:
    with run_chain("embedded") as chain:
        yield chain


@pytest.fixture(scope="module")
def small(endpoint: ChainEndpoint) -> GasFigures:
    return measure_gas(deploy_swarm(endpoint, learners=4))


@pytest.fixture(scope="module")
def large(endpoint: ChainEndpoint) -> GasFigures:
    return measure_gas(deploy_swarm(endpoint, learners=64))


@pytest.mark.parametrize("kind", KINDS)
def test_gas_at_64_learners_is_within_a_small_factor_of_4(
    kind: str, small: GasFigures, large: GasFigures
) -> None:
    assert large.gas[kind] <= MAX_GROWTH * small.gas[kind], (
        f"{kind}: {large.gas[kind]} gas with 64 learners, {small.gas[kind]} with 4"
    )


def test_the_scenario_measures_real_transactions(small: GasFigures) -> None:
    # Every kind was measured, above the 21 000 gas of a plain transfer.
    assert set(small.gas) == set(KINDS)
    assert all(gas > 21_000 for gas in small.gas.values())
