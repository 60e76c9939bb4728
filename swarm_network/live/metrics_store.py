"""The learners' verified metrics documents as one SN node holds them: in arrival order (a
cursor for relays and dashboards) and by learner and step (histories, step timings)."""

from __future__ import annotations

from typing import Any

from swarm_network.errors import InvalidRequest
from swarm_network.metrics_doc import MetricsDocument

#: About 100 learners for 2 000 steps; documents are never dropped (cursors stay valid), so
#: past this a node takes no more and says so.
MAX_DOCUMENTS = 200_000


class MetricsStore:
    def __init__(self) -> None:
        self._log: list[MetricsDocument] = []
        self._by_key: dict[tuple[str, int], MetricsDocument] = {}
        self._by_learner: dict[str, list[MetricsDocument]] = {}
        self._by_step: dict[int, list[MetricsDocument]] = {}

    def __len__(self) -> int:
        return len(self._log)

    def add(self, doc: MetricsDocument) -> bool:
        """True when new; False for a copy of a document already held (relays send those).
        A second, different document for the same learner and step is refused: a learner
        reports each step once."""
        held = self._by_key.get(doc.key)
        if held is not None:
            if held.to_json() == doc.to_json():
                return False
            raise InvalidRequest(
                f"learner {doc.address} already reported other metrics for step {doc.step}"
            )
        if len(self._log) >= MAX_DOCUMENTS:
            raise InvalidRequest(f"this node holds {MAX_DOCUMENTS} metrics documents already")
        self._by_key[doc.key] = doc
        self._log.append(doc)
        self._by_learner.setdefault(doc.address.lower(), []).append(doc)
        self._by_step.setdefault(doc.step, []).append(doc)
        return True

    def since(self, cursor: int, limit: int) -> tuple[list[MetricsDocument], int]:
        """Documents after position `cursor` in arrival order, and the next cursor."""
        start = max(0, cursor)
        chunk = self._log[start : start + limit]
        return chunk, start + len(chunk)

    @property
    def end(self) -> int:
        return len(self._log)

    def all(self) -> list[MetricsDocument]:
        return list(self._log)

    def history(self, address: str) -> list[dict[str, Any]]:
        """One row per step for a learner, oldest first."""
        docs = sorted(self._by_learner.get(address.lower(), []), key=lambda d: d.step)
        return [history_row(d) for d in docs]

    def step_timings(self, step: int) -> list[dict[str, Any]]:
        """Every learner's timings of one step, in address order."""
        docs = sorted(self._by_step.get(step, []), key=lambda d: d.address.lower())
        return [{"address": d.address, **d.timings} for d in docs]


def history_row(doc: MetricsDocument) -> dict[str, Any]:
    return {"step": doc.step, "metrics": doc.metrics, "timings": doc.timings}
