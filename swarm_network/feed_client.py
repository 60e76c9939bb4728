"""A learner's side of its SN node's event feed (`GET /v1/events`, `rest/chain_feed.py`):
wait for the next blocks and get the contract's events in them, pushed as they are mined,
instead of polling the contract."""

from __future__ import annotations

from dataclasses import dataclass

import requests

from swarm_network.chain.events import ChainEvent, decode_events
from swarm_network.errors import ChainUnavailable
from swarm_network.trainings import DEFAULT_TRAINING, training_query

#: Beyond the server's own wait: how long an answer may take to come back.
ANSWER_MARGIN_S = 10.0


@dataclass(frozen=True)
class FeedUpdate:
    head: int  # the newest block the answer covers: ask for what comes after it next
    events: list[ChainEvent]


class EventFeed:
    """Long-polls of one SN node, over one keep-alive HTTP session."""

    def __init__(self, sn_url: str, training: str = DEFAULT_TRAINING) -> None:
        self.url = f"{sn_url.rstrip('/')}/v1/events"
        self._training = training_query(training)
        self._http = requests.Session()

    def wait(self, *, after: int, timeout_s: float) -> FeedUpdate:
        """The events of the blocks after `after`, as soon as there is one, or none after
        `timeout_s`; ChainUnavailable if the SN node (or its chain) cannot answer."""
        try:
            response = self._http.get(
                self.url,
                params={
                    "after": after,
                    "timeout": f"{max(timeout_s, 0.0):.3f}",
                    **self._training,
                },
                timeout=timeout_s + ANSWER_MARGIN_S,
            )
            response.raise_for_status()
            body = response.json()
            return FeedUpdate(head=int(body["head"]), events=decode_events(body["logs"]))
        except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
            raise ChainUnavailable(f"event feed {self.url}: {exc}") from exc

    def close(self) -> None:
        self._http.close()
