"""Merging one closed step's contributions with the training's method: every contribution
checked in full first, then read the way the method says (`Reading`). The caller hands the
contributions in the swarm's fixed order with their merge weights, both from chain data
only, so every node merges the same set in the same order and gets the same bytes."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from swarm_learning.weight_file import check_weight_file, fill_row
from swarm_learning.weights import WeightSchema, unflatten, unflatten_segments, validate
from swarm_network.errors import InvalidWeights, SwarmError

from .inputs import FileWeights, MergeInput, OwnWeights
from .method import MergeChoice, Reading

log = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]

#: Coordinates per block for COORDINATE_BLOCKS methods: P float64 rows of this length are
#: held at a time.
COLUMN_BLOCK = 1 << 16


@dataclass(frozen=True)
class Contributor:
    """One contribution to merge: who made it, its file's sha256, and its merge weight."""

    address: str
    weight_hash: str
    weight: float


@dataclass(frozen=True)
class OwnModel:
    """This node's own contribution: it is merged from memory, not from a file."""

    weight_hash: str
    arrays: Arrays


@dataclass(frozen=True)
class StepMerge:
    """The merged model, whose contributions it was made from, and which were refused why."""

    arrays: Arrays
    merged_from: tuple[str, ...]
    refused: tuple[tuple[str, str], ...]


def merge_step(
    contributors: Sequence[Contributor],
    files: Mapping[str, Path],
    *,
    own: OwnModel,
    schema: WeightSchema,
    choice: MergeChoice,
) -> StepMerge:
    """Merge the delivered contributions (a contributor that is neither `own` nor in `files`
    was not delivered: the caller recorded why). A contribution that fails the checks is
    refused, named and left out; SwarmError if none is left."""
    merged_from: list[str] = []
    refused: list[tuple[str, str]] = []
    inputs: list[MergeInput] = []
    weights: list[float] = []
    for contributor in contributors:
        if contributor.weight_hash != own.weight_hash and contributor.weight_hash not in files:
            continue
        try:
            inputs.append(_checked_input(contributor.weight_hash, own, files, schema))
        except InvalidWeights as exc:
            log.warning("contribution of %s refused: %s", contributor.address, exc)
            refused.append((contributor.address, str(exc)))
            continue
        weights.append(contributor.weight)
        merged_from.append(contributor.address)
    if not merged_from:
        raise SwarmError("no valid contribution to merge (every file was refused)")
    reading = choice.method.reading
    if reading is Reading.STREAMED:
        arrays = _streamed(inputs, weights, schema, choice)
    elif reading is Reading.COORDINATE_BLOCKS:
        arrays = unflatten(_by_coordinate_blocks(inputs, weights, schema, choice), schema)
    else:
        arrays = unflatten(_by_whole_rows(inputs, weights, schema, choice), schema)
    return StepMerge(arrays=arrays, merged_from=tuple(merged_from), refused=tuple(refused))


def _checked_input(
    weight_hash: str, own: OwnModel, files: Mapping[str, Path], schema: WeightSchema
) -> MergeInput:
    """One contribution, once all of it passed the checks. Our own contribution passes the
    same checks as everybody else's: a node whose model went NaN must leave itself out
    exactly as its peers leave it out. A peer's file is never decoded whole."""
    if weight_hash == own.weight_hash:
        validate(own.arrays, schema)
        return OwnWeights(own.arrays, schema)
    path = files[weight_hash]
    return FileWeights(path, check_weight_file(path, schema))


def _streamed(
    inputs: list[MergeInput], weights: list[float], schema: WeightSchema, choice: MergeChoice
) -> Arrays:
    accumulator = choice.accumulator([spec.num_elements for spec in schema.tensors])
    for source, weight in zip(inputs, weights, strict=True):
        accumulator.add_parts(source.parts(), weight)
    return unflatten_segments(accumulator.take_segments(), schema)


def _by_coordinate_blocks(
    inputs: list[MergeInput], weights: list[float], schema: WeightSchema, choice: MergeChoice
) -> np.ndarray:
    """The method applied to each block of coordinates in turn: the same bytes as on the
    whole stack, because each coordinate's result depends on that coordinate alone."""
    size = schema.num_elements
    merged = np.empty(size, dtype=np.float64)
    block = np.empty((len(inputs), min(size, COLUMN_BLOCK)), dtype=np.float64)
    weight_array = np.asarray(weights)
    for start in range(0, size, COLUMN_BLOCK):
        stop = min(size, start + COLUMN_BLOCK)
        rows = block[:, : stop - start]
        for row, source in zip(rows, inputs, strict=True):
            source.read_range(start, stop, row)
        merged[start:stop] = choice.merge_rows(rows, weight_array)
    return merged


def _by_whole_rows(
    inputs: list[MergeInput], weights: list[float], schema: WeightSchema, choice: MergeChoice
) -> np.ndarray:
    """All P contributions as rows of one preallocated stack (no second copy)."""
    stack = np.empty((len(inputs), schema.num_elements), dtype=np.float64)
    for row, source in zip(stack, inputs, strict=True):
        fill_row(source.parts(), row)
    return choice.merge_rows(stack, np.asarray(weights))
