"""Concurrent trainings in one swarm (docs/ARCHITECTURE.md, "Concurrent trainings").

A training is one SwarmLearning contract: its own members, quorum, steps, merge method and
final model. The swarm's first contract, deployed by the sentinel at its start, is the training
named `default` and also the record of every other training's name and contract, so that any
node finds them on chain. The sentinel deploys a training's contract when a learner first asks
to join it by name.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from swarm_network.errors import InvalidRequest

if TYPE_CHECKING:  # the learner's settings import the names: no web3 for them
    from swarm_network.chain import SwarmContract

#: The training every learner joins unless it names another.
DEFAULT_TRAINING = "default"
TRAINING_NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
#: Each training costs a contract deployment: a join token holder may not make endless ones.
MAX_TRAININGS = 64


def training_query(name: str) -> dict[str, str]:
    """The query parameters that select a training in the REST API (none for the default,
    so that clients of one training send what they always sent)."""
    return {} if name == DEFAULT_TRAINING else {"training": name}


def checked_training_name(name: object) -> str:
    """The name, if it is one a training may have (InvalidRequest otherwise)."""
    if not isinstance(name, str) or not TRAINING_NAME_RE.fullmatch(name):
        raise InvalidRequest(
            f"a training's name is 1-64 letters, digits, '.', '_' or '-', got {name!r}"
        )
    return name


def training_contracts(registry: SwarmContract) -> dict[str, str]:
    """Every training of the swarm, name -> contract address, the default one first.
    Blocking (a chain read)."""
    return {DEFAULT_TRAINING: registry.address, **registry.named_trainings()}


def training_address(registry: SwarmContract, name: str) -> str | None:
    """The contract of the training named `name`; None when the swarm has none of that name.
    Blocking (a chain read, except for the default training)."""
    if name == DEFAULT_TRAINING:
        return registry.address
    return registry.training_of(name)
