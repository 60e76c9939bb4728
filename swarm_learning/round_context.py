"""What every part of a sync round works with: this learner's chain client, file store,
settings, model schema, the agreed training, and its access to peers' files."""

from __future__ import annotations

from dataclasses import dataclass

from swarm_learning.peer_files import PeerFiles
from swarm_learning.settings import LearnerSettings
from swarm_learning.training import Training
from swarm_learning.weights import WeightSchema
from swarm_network.backoff import Backoff
from swarm_network.chain import SwarmContract
from swarm_network.feed_client import EventFeed
from swarm_network.files.store import FileStore

#: How fast chain polling backs off while waiting (from `poll_interval_s` up to
#: `max_poll_interval_s`).
POLL_BACKOFF_FACTOR = 1.5


@dataclass(frozen=True)
class RoundContext:
    contract: SwarmContract
    store: FileStore
    settings: LearnerSettings
    schema: WeightSchema
    training: Training
    peers: PeerFiles
    #: Chain events pushed by the SN node; None (a chain without an SN node in front, as in
    #: tests of the round alone): waits poll the contract instead.
    feed: EventFeed | None = None

    def polling(self, deadline_s: float | None) -> Backoff:
        """Chain polling while waiting: fast at first, then backing off; for at most
        `deadline_s` seconds (None: until the caller's condition holds)."""
        return Backoff(
            first_s=self.settings.poll_interval_s,
            max_s=self.settings.max_poll_interval_s,
            factor=POLL_BACKOFF_FACTOR,
            deadline_s=deadline_s,
        )
