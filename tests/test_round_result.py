"""What one round hands to the next and to `sync_steps.jsonl`: the next check-in's step,
base and refused mask come from the previous round's result, nothing else."""

from __future__ import annotations

import dataclasses
import json

import pytest

from swarm_learning.round_result import RoundResult, Standing
from swarm_network.chain.records import ZERO_HASH

A, B = "0x" + "a" * 40, "0x" + "b" * 40


def result(**changes: object) -> RoundResult:
    fields = {
        "step": 4,
        "participants": (A, B),
        "merged_from": (A,),
        "refused": ((B, "hash mismatch"),),
        "refused_mask": 0b10,
        "method": "mean",
        "merged_hash": "1" * 64,
        "check_in_s": 0.25,
        "wait_s": 0.5,
        "transfer_s": 0.125,
        "merge_s": 0.125,
        "caught_up": False,
    }
    return RoundResult(**{**fields, **changes})  # type: ignore[arg-type]


def test_the_first_round_checks_in_for_step_zero_from_no_model() -> None:
    assert Standing.after(None) == Standing(step=0, base_hash=ZERO_HASH, refused_mask=0)


def test_the_next_round_reports_this_merge() -> None:
    assert Standing.after(result()) == Standing(step=5, base_hash="1" * 64, refused_mask=0b10)


def test_a_result_cannot_be_changed_afterwards() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        result().merged_hash = "2" * 64  # type: ignore[misc]


def test_the_json_line_has_the_timings_and_one_name_per_thing() -> None:
    line = json.loads(result().to_json())
    assert line["total_s"] == 1.0
    assert {k: line[k] for k in ("check_in_s", "wait_s", "transfer_s", "merge_s")} == {
        "check_in_s": 0.25,
        "wait_s": 0.5,
        "transfer_s": 0.125,
        "merge_s": 0.125,
    }
    assert line["merged_from"] == [A] and line["refused"] == [[B, "hash mismatch"]]
    assert line["merged_hash"] == "1" * 64 and line["refused_mask"] == 2
    assert not {"merged", "rejected", "bad"} & set(line)
