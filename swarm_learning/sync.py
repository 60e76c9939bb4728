"""One sync step, leaderless (DESIGN.md, "One sync step").

check in (file hash, weightage, base) -> wait until the step closes -> fetch the other
participants' files, verified against their on-chain hashes -> merge in address order -> the
merged hash becomes this node's base, reported by its next check-in. A node that finds itself
behind (late join, a step that closed without it, a merge that lost the vote) catches up by
fetching the agreed model, so no operator action is needed.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import requests

from swarm_learning.merge import get_merge
from swarm_learning.settings import LearnerSettings
from swarm_learning.step_merge import eligible_contributions, merge_contributions
from swarm_learning.weights import (
    WeightSchema,
    decode_weights,
    encode_weights,
    validate,
)
from swarm_network.chain import SwarmContract
from swarm_network.chain.records import ZERO_HASH, Contribution
from swarm_network.errors import ConfigError, ContractRevert, PeerUnavailable, SwarmError
from swarm_network.files.fetch import fetch_many
from swarm_network.files.store import FileStore

log = logging.getLogger(__name__)

MAX_CHECK_IN_ATTEMPTS = 100  # a late node races steps the others close without it
CLOSE_RETRY_S = 1.0
WAIT_LOG_EVERY_S = 5.0

Arrays = dict[str, np.ndarray]


@dataclass(frozen=True)
class StepResult:
    """What one sync step did; logs, REST clients and benchmarks read the same record."""

    step: int
    participants: tuple[str, ...]
    merged: tuple[str, ...]
    rejected: tuple[tuple[str, str], ...]
    method: str
    merged_hash: str
    check_in_s: float  # chain: the check-in transaction(s)
    wait_s: float  # chain: waiting for the quorum / the other learners, and closing
    transfer_s: float  # downloading and verifying peer files
    merge_s: float  # decoding, validating and merging
    caught_up: bool

    @property
    def total_s(self) -> float:
        return self.check_in_s + self.wait_s + self.transfer_s + self.merge_s

    def to_json(self) -> str:
        return json.dumps({**self.__dict__, "total_s": self.total_s})


def contribution_weightage(
    settings: LearnerSettings, merge_method: str, merge_params: dict[str, object]
) -> int:
    """The weightage this learner checks in with: its `node_weightage`, or its sample count
    when the training merges with `mean` weighted by samples. The merge itself only ever
    reads weightages from the chain, so every node weighs every contribution alike."""
    if merge_method == "mean" and merge_params.get("weight_by") == "samples":
        if settings.num_samples is None:
            raise ConfigError(
                "this training merges with mean weighted by samples: pass num_samples "
                "(the number of local training samples) to SwarmCallback"
            )
        return settings.num_samples
    return settings.node_weightage


class SyncProtocol:
    def __init__(
        self,
        *,
        contract: SwarmContract,
        store: FileStore,
        settings: LearnerSettings,
        schema: WeightSchema,
        merge_method: str,
        merge_params: dict[str, object],
        grace_seconds: int,
        max_staleness: int = 0,
    ) -> None:
        self.contract = contract
        self.store = store
        self.settings = settings
        self.schema = schema
        self.merge_method = merge_method
        self.merge_params = merge_params
        self.grace_seconds = grace_seconds
        self.address = contract.account.address if contract.account else ""
        self.next_step = 0
        self.base_hash = ZERO_HASH
        self.max_staleness = max_staleness
        # Which participants of my last merged step I refused: sent with my next report.
        self._rejected_mask = 0
        self._file_urls: dict[str, str] = {}
        get_merge(merge_method)  # an unknown method fails here, before any step
        self.weightage = contribution_weightage(settings, merge_method, merge_params)

    # ---------------------------------------------------------------- one step

    def sync(self, arrays: Arrays) -> tuple[Arrays, StepResult]:
        started = time.monotonic()
        arrays, weight_hash, caught_up = self._check_in(arrays)
        step = self.next_step
        checked_in = time.monotonic()
        self._wait_closed(step)
        on_chain = self.contract.contributions(step)
        contributions = self._eligible(step, on_chain)
        for c in contributions:
            self._file_url(c.address)  # chain reads, once per peer: not transfer time
        closed = time.monotonic()

        files, rejected = self._fetch(contributions, own_hash=weight_hash)
        fetched = time.monotonic()
        merged, used, bad = merge_contributions(
            contributions,
            files,
            own=(weight_hash, arrays),
            schema=self.schema,
            method=self.merge_method,
            params=self.merge_params,
        )
        data = encode_weights(merged)
        merged_hash = self.store.put_bytes(data)
        done = time.monotonic()

        self.base_hash = merged_hash
        self.next_step = step + 1
        refused = {address for address, _ in rejected + bad}
        self._rejected_mask = sum(1 << i for i, c in enumerate(on_chain) if c.address in refused)
        result = StepResult(
            step=step,
            participants=tuple(c.address for c in contributions),
            merged=tuple(used),
            rejected=tuple(rejected + bad),
            method=self.merge_method,
            merged_hash=merged_hash,
            check_in_s=checked_in - started,
            wait_s=closed - checked_in,
            transfer_s=fetched - closed,
            merge_s=done - fetched,
            caught_up=caught_up,
        )
        log.info(
            "step %d merged %d of %d (%s) -> %s in %.0f ms (chain %.0f + wait %.0f, "
            "transfer %.0f, merge %.0f)",
            step,
            len(used),
            len(contributions),
            self.merge_method,
            merged_hash[:12],
            result.total_s * 1000,
            result.check_in_s * 1000,
            result.wait_s * 1000,
            result.transfer_s * 1000,
            result.merge_s * 1000,
        )
        return merged, result

    def finalize(self, arrays: Arrays) -> tuple[Arrays, str]:
        """After this node's last step: report its merge, leave the quorum, and adopt the
        swarm's final model (the agreed merge of the training's last step) once every live
        learner is done, so that all learners end with the same bytes even when one of them
        joined late and ran on for a step or two alone."""
        last = self.next_step - 1
        if last >= 0:
            try:
                self.contract.report_merge(last, self.base_hash, self._rejected_mask)
            except ContractRevert as exc:
                log.info("merge of step %d not reported: %s", last, exc.reason)
        self.contract.finish()
        final_step = self._wait_training_done(self.settings.final_timeout_s)
        if final_step is None or final_step < 0:
            return arrays, self.base_hash
        agreed = self._wait_agreed(final_step, timeout_s=self.settings.final_timeout_s)
        if agreed is None:
            return arrays, self.base_hash
        self._wait_archived(agreed)
        if agreed == self.base_hash:
            return arrays, self.base_hash
        log.info("adopting the swarm's final model of step %d", final_step)
        arrays = self._fetch_agreed(final_step, agreed)
        self.base_hash = agreed
        return arrays, agreed

    def _wait_archived(self, agreed: str) -> None:
        """Keep serving the final model until every reachable SN node holds a copy of it
        (bounded), so that it outlives the learners: a node that comes later can still fetch
        it. An SN node that cannot be reached is not waited for."""
        pending = {n.file_url for n in self.contract.nodes() if n.role == "network"}
        deadline = time.monotonic() + self.settings.archive_wait_s
        for interval in self._poll_intervals():
            for url in sorted(pending):
                try:
                    if requests.head(f"{url}/files/{agreed}", timeout=2).status_code == 200:
                        pending.discard(url)
                except requests.ConnectionError:
                    pending.discard(url)
                except requests.RequestException:
                    pass
            if not pending:
                return
            if time.monotonic() > deadline:
                log.warning("final model %s not yet copied by %s", agreed[:12], sorted(pending))
                return
            time.sleep(interval)

    def _wait_training_done(self, timeout_s: float | None) -> int | None:
        """The training's last step, once no live learner is left; None on timeout."""
        started = time.monotonic()
        last_log = started
        for interval in self._poll_intervals():
            open_step = self.contract.current_step()
            status = self.contract.step_status(open_step)
            if status.live == 0 and status.checked_in == 0:
                return open_step - 1
            now = time.monotonic()
            if timeout_s is not None and now - started > timeout_s:
                log.warning(
                    "other learners still training after %.0fs; keeping my model", timeout_s
                )
                return None
            if now - last_log >= WAIT_LOG_EVERY_S:
                log.info("done; waiting for %d learner(s) still training", status.live)
                last_log = now
            time.sleep(interval)
        return None

    # ---------------------------------------------------------------- check-in

    def _check_in(self, arrays: Arrays) -> tuple[Arrays, str, bool]:
        caught_up = False
        for _ in range(MAX_CHECK_IN_ATTEMPTS):
            weight_hash = self.store.put_bytes(encode_weights(arrays))
            try:
                self.contract.check_in(
                    step=self.next_step,
                    weight_hash=weight_hash,
                    weightage=self.weightage,
                    base_hash=self.base_hash,
                    rejected_mask=self._rejected_mask,
                )
                return arrays, weight_hash, caught_up
            except ContractRevert as exc:
                if "step is not open" in exc.reason:
                    arrays, caught_up = self._catch_up_to_open_step(arrays), True
                elif "stale base" in exc.reason:
                    log.info(
                        "check-in for step %d refused (%s); catching up", self.next_step, exc.reason
                    )
                    replacement = self._catch_up(self.next_step - 1)
                    arrays, caught_up = replacement, True
                else:
                    raise
        raise SwarmError(f"could not check in after {MAX_CHECK_IN_ATTEMPTS} attempts")

    def _catch_up_to_open_step(self, arrays: Arrays) -> Arrays:
        """The step I meant to check in for is closed (late join, or too slow).

        A slow learner whose work is at most `max_staleness` steps late offers it to the open
        step as it is (the contract records the staleness; every node merges it with weight
        weightage / (1 + staleness)). Otherwise, or for a node with no merged base yet, it
        takes the agreed model of the step before the open one. Checked lazily, on a refused
        check-in, so that the steady state costs no extra chain read."""
        open_step = self.contract.current_step()
        if open_step <= self.next_step:
            return arrays
        late_by = open_step - self.next_step
        if (
            self.base_hash != ZERO_HASH
            and late_by <= self.max_staleness
            and not self._only_learner_left()
        ):
            log.info("late by %d step(s): offering my work to step %d as stale", late_by, open_step)
            self.next_step = open_step
            return arrays
        log.info("swarm is at step %d, I am at %d: catching up", open_step, self.next_step)
        return self._catch_up(open_step - 1)

    def _only_learner_left(self) -> bool:
        """Every other learner has finished: late work offered now would be merged by me
        alone and become the swarm's final model, so I take the agreed one instead."""
        return self.contract.unfinished_learners() <= 1

    def _catch_up(self, agreed_step: int) -> Arrays:
        """Adopt the agreed model of `agreed_step`; training continues from it.

        If that merge never comes (every learner of the step died before reporting), or no
        one can deliver it any more, take the newest agreed model at most `max_staleness`
        steps older that someone (a peer or an SN node's archive) can deliver: the contract
        accepts work built on it as late work, and the swarm goes on."""
        patience = max(self.grace_seconds, 1) * 3
        while True:
            candidates = []
            agreed = self._wait_agreed(agreed_step, timeout_s=patience)
            if agreed is not None:
                candidates.append((agreed_step, agreed))
            candidates += self._agreed_before(agreed_step)
            for source, model_hash in candidates:
                try:
                    arrays = self._fetch_agreed(source, model_hash)
                except SwarmError as exc:
                    log.warning("agreed model of step %d unavailable: %s", source, exc)
                    continue
                if source != agreed_step:
                    log.info("starting from step %d's agreed model (late work)", source)
                self.base_hash = model_hash
                self.next_step = max(self.contract.current_step(), agreed_step + 1)
                return arrays

    def _agreed_before(self, step: int) -> list[tuple[int, str]]:
        found = []
        for older in range(step - 1, max(-1, step - 1 - self.max_staleness), -1):
            agreed = self.contract.step(older).agreed_hash
            if agreed is not None:
                found.append((older, agreed))
        return found

    def _fetch_agreed(self, step: int, agreed: str) -> Arrays:
        holders = [c.address for c in self.contract.contributions(step) if c.merged_hash == agreed]
        jobs = [(self._file_url(address), agreed) for address in holders]
        # SN nodes keep copies of agreed models: they answer when every holder is gone.
        jobs += [(n.file_url, agreed) for n in self.contract.nodes() if n.role == "network"]
        result = fetch_many(jobs, self.store, timeout_s=self.settings.peer_timeout_s).get(agreed)
        if not isinstance(result, Path):
            raise SwarmError(f"no peer could deliver the agreed model {agreed[:12]}: {result}")
        arrays = decode_weights(result.read_bytes())
        validate(arrays, self.schema)
        log.info("adopted agreed model %s of step %d", agreed[:12], step)
        return arrays

    # ---------------------------------------------------------------- waiting

    def _poll_intervals(self):  # type: ignore[no-untyped-def]
        interval = self.settings.poll_interval_s
        while True:
            yield interval
            interval = min(interval * 1.5, self.settings.max_poll_interval_s)

    def _wait_closed(self, step: int) -> None:
        started = time.monotonic()
        quorum_seen: float | None = None
        last_close_try = 0.0
        last_log = started
        for interval in self._poll_intervals():
            status = self.contract.step_status(step)
            if status.closed:
                return
            now = time.monotonic()
            if status.checked_in < status.quorum:
                quorum_seen = None
                if now - last_log >= WAIT_LOG_EVERY_S:
                    log.info(
                        "step %d waiting for quorum: %d of %d checked in (training paused)",
                        step,
                        status.checked_in,
                        status.quorum,
                    )
                    last_log = now
                timeout = self.settings.quorum_timeout_s
                if timeout is not None and now - started > timeout:
                    raise SwarmError(f"no quorum for step {step} after {timeout:.0f}s")
            else:
                quorum_seen = quorum_seen or now
                everyone_in = status.checked_in >= status.live
                grace_over = now - quorum_seen >= self.grace_seconds
                if (
                    status.previous_agreed
                    and (everyone_in or grace_over)
                    and now - last_close_try >= CLOSE_RETRY_S
                ):
                    last_close_try = now
                    try:
                        self.contract.close_step(step)
                        log.info(
                            "closed step %d (%d of %d live in)",
                            step,
                            status.checked_in,
                            status.live,
                        )
                        return
                    except ContractRevert as exc:
                        log.debug("close of step %d refused: %s", step, exc.reason)
            time.sleep(interval)

    def _wait_agreed(self, step: int, *, timeout_s: float | None) -> str | None:
        """The agreed merge of `step`. After the grace period, participants that never
        reported (they died) stop counting: any node may then settle by the reports."""
        started = time.monotonic()
        last_settle_try = started
        for interval in self._poll_intervals():
            record = self.contract.step(step)
            if record.agreed_hash is not None:
                return record.agreed_hash
            now = time.monotonic()
            if now - started >= self.grace_seconds and now - last_settle_try >= CLOSE_RETRY_S:
                last_settle_try = now
                try:
                    self.contract.settle_merge(step)
                except ContractRevert as exc:
                    log.debug("merge of step %d not settled: %s", step, exc.reason)
            if timeout_s is not None and now - started > timeout_s:
                log.warning("no majority on the merge of step %d after %.0fs", step, timeout_s)
                return None
            time.sleep(interval)
        return None

    # ---------------------------------------------------------------- merging

    def _eligible(self, step: int, contributions: list[Contribution]) -> list[Contribution]:
        """Contributions built on the agreed model of the previous step, in address order.

        Both the filter and the order come from chain data only, so every node merges the
        same set in the same order and gets the same bytes.
        """
        base = ZERO_HASH if step == 0 else (self.contract.step(step - 1).agreed_hash or ZERO_HASH)
        return eligible_contributions(contributions, base)

    def _file_url(self, address: str) -> str:
        if address not in self._file_urls:
            self._file_urls[address] = self.contract.node(address).file_url
        return self._file_urls[address]

    def _fetch(
        self, contributions: list[Contribution], *, own_hash: str
    ) -> tuple[dict[str, Path], list[tuple[str, str]]]:
        jobs = [
            (self._file_url(c.address), c.weight_hash)
            for c in contributions
            if c.weight_hash != own_hash
        ]
        results = fetch_many(jobs, self.store, timeout_s=self.settings.peer_timeout_s)
        # A peer that restarted serves from a new address (on chain): look again, once.
        retry = []
        for c in contributions:
            outcome = results.get(c.weight_hash)
            if c.weight_hash != own_hash and isinstance(outcome, PeerUnavailable):
                cached = self._file_urls.pop(c.address, None)
                if self._file_url(c.address) != cached:
                    retry.append((self._file_url(c.address), c.weight_hash))
        if retry:
            results.update(fetch_many(retry, self.store, timeout_s=self.settings.peer_timeout_s))
        files: dict[str, Path] = {}
        rejected: list[tuple[str, str]] = []
        for c in contributions:
            if c.weight_hash == own_hash:
                continue
            outcome = results.get(c.weight_hash)
            if isinstance(outcome, Path):
                files[c.weight_hash] = outcome
            else:
                log.warning("step file of %s refused or missing: %s", c.address, outcome)
                rejected.append((c.address, str(outcome)))
        return files, rejected
