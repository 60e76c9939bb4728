"""Sends signed metrics documents to the learner's SN node from a thread of its own, so that
training never waits on the REST API. Each document is retried for a bounded time; one that
cannot be delivered is logged and dropped (figures are for watching, not for the protocol)."""

from __future__ import annotations

import logging
import queue
import threading

import requests

from swarm_network.backoff import Backoff
from swarm_network.metrics_doc import MetricsDocument
from swarm_network.trainings import DEFAULT_TRAINING, training_query

log = logging.getLogger(__name__)

QUEUE_LIMIT = 1000
POST_TIMEOUT_S = 10.0
RETRY = Backoff(first_s=0.5, max_s=5.0, deadline_s=60.0)


class MetricsPublisher:
    def __init__(self, sn_url: str, training: str = DEFAULT_TRAINING) -> None:
        self.url = f"{sn_url}/v1/metrics"
        self._params = training_query(training)
        self._queue: queue.Queue[MetricsDocument | None] = queue.Queue(maxsize=QUEUE_LIMIT)
        self._thread = threading.Thread(target=self._run, name="metrics-publisher", daemon=True)
        self._thread.start()
        self.sent = 0

    def submit(self, doc: MetricsDocument) -> None:
        try:
            self._queue.put_nowait(doc)
        except queue.Full:
            log.warning("metrics of step %d dropped: %d still unsent", doc.step, QUEUE_LIMIT)

    def close(self, timeout_s: float) -> None:
        """Send what is queued (for at most `timeout_s`), then stop."""
        try:
            self._queue.put(None, timeout=timeout_s)
        except queue.Full:
            return
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            log.warning("metrics not all sent to %s within %.0fs", self.url, timeout_s)

    def _run(self) -> None:
        while (doc := self._queue.get()) is not None:
            self._deliver(doc)

    def _deliver(self, doc: MetricsDocument) -> None:
        problem = ""
        for _ in RETRY.sleeps():
            try:
                response = requests.post(
                    self.url, params=self._params, json=doc.to_json(), timeout=POST_TIMEOUT_S
                )
            except requests.RequestException as exc:
                problem = str(exc)
                continue
            if response.status_code < 300:
                self.sent += 1
                return
            problem = f"{response.status_code} {response.text[:200]}"
            if response.status_code < 500:
                break  # refused: sending it again will not help
        log.warning("metrics of step %d not delivered to %s: %s", doc.step, self.url, problem)
