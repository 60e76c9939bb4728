"""What a merge method declares about itself, so that nothing outside `merge/` needs to know
any method by name: its name, its parameters (checked once, by `MergeMethod.check_params`,
with one message format), how it reads the contributions (`Reading`), and whether the
training it is chosen for weighs contributions by sample count.

A method is a `MergeMethod` value in its own module's `METHODS`; `registry` collects them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

import numpy as np

from swarm_network.errors import ConfigError


class Reading(Enum):
    """How a method reads the P contributions; the step driver picks its loop by it."""

    #: One contribution at a time, front to back, into the method's accumulator: memory does
    #: not grow with P.
    STREAMED = "streamed"
    #: Each coordinate is merged on its own: the driver goes block by block through the
    #: coordinates, reading each contribution's slice, so memory stays flat in P as well.
    COORDINATE_BLOCKS = "coordinate blocks"
    #: The method compares whole models (distances): all P rows in one (P, n) stack.
    WHOLE_ROWS = "whole rows"


class Accumulator(Protocol):
    """A streamed method's running state: contributions in, merged model out by segments."""

    def add_parts(self, parts: Iterable[np.ndarray], weight: float) -> None: ...

    def take_segments(self) -> Iterator[np.ndarray]: ...


@dataclass(frozen=True)
class Param:
    """One parameter a method takes (its default is the merge function's own) and the rule
    its value must follow."""

    name: str
    accepts: Callable[[object], bool]  # never raises: a value of the wrong type is False
    expected: str  # what `accepts` wants, for the error message: "an int >= 0"


def _never_by_samples(params: Mapping[str, object]) -> bool:
    return False


@dataclass(frozen=True)
class MergeMethod:
    """A merge method as the learner sees it.

    `merge(stack, weights, **params)` is the method's maths over a checked (P, n) float64
    stack and (P,) merge weights, in the swarm's fixed row order; it is what the
    coordinate-block and whole-row readings call. A STREAMED method also gives
    `accumulator(segment_sizes, **params)`, which the driver feeds one contribution at a time
    and which must give the same bytes as `merge` over the same rows.

    `weighs_by_samples(params)`: whether a training that merges with these parameters wants
    every learner to check in with its sample count as weightage, instead of its configured
    node weightage.
    """

    name: str
    merge: Callable[..., np.ndarray]
    reading: Reading
    params: tuple[Param, ...] = ()
    accumulator: Callable[..., Accumulator] | None = None
    weighs_by_samples: Callable[[Mapping[str, object]], bool] = field(default=_never_by_samples)
    #: Each coordinate's merged value depends on that coordinate of the contributions alone
    #: (and the weights): the model can then be cut into shards merged apart, with the same
    #: bytes as the whole merge (docs/ARCHITECTURE.md, "Sharded merge").
    coordinate_wise: bool = False

    def __post_init__(self) -> None:
        if self.name != self.name.strip().lower() or not self.name:
            raise ValueError(f"a merge method's name must be lowercase, got {self.name!r}")
        if (self.reading is Reading.STREAMED) != (self.accumulator is not None):
            raise ValueError(f"{self.name}: a STREAMED method, and only one, has an accumulator")

    def check_params(self, params: Mapping[str, object]) -> dict[str, object]:
        """`params` as given, once every name is known and every value acceptable;
        ConfigError naming the method and the parameter otherwise."""
        if not isinstance(params, Mapping):
            raise ConfigError(
                f"merge method {self.name!r}: parameters must be a JSON object, got {params!r}"
            )
        known = {param.name: param for param in self.params}
        unknown = sorted(set(params) - set(known), key=str)
        if unknown:
            takes = ", ".join(known) or "none"
            raise ConfigError(
                f"merge method {self.name!r} has no parameter {', '.join(map(repr, unknown))} "
                f"(its parameters: {takes})"
            )
        for name, value in params.items():
            param = known[name]
            if not param.accepts(value):
                raise ConfigError(
                    f"merge method {self.name!r}: {name} must be {param.expected}, got {value!r}"
                )
        return dict(params)


@dataclass(frozen=True)
class MergeChoice:
    """A method with parameters that passed its `check_params`: made only by
    `registry.choose_merge`, so holding one means the parameters were checked."""

    method: MergeMethod
    params: Mapping[str, object]

    @property
    def name(self) -> str:
        return self.method.name

    @property
    def weighs_by_samples(self) -> bool:
        return self.method.weighs_by_samples(self.params)

    def merge_rows(self, stack: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return self.method.merge(stack, weights, **self.params)

    def accumulator(self, segment_sizes: Sequence[int]) -> Accumulator:
        if self.method.accumulator is None:
            raise ValueError(f"merge method {self.name!r} does not stream")
        return self.method.accumulator(segment_sizes, **self.params)


# ------------------------------------------------------------------ rules for `Param.accepts`


def int_at_least(low: int, *, or_none: bool = False) -> Callable[[object], bool]:
    """An int (not a bool) >= `low`; also None when `or_none` (a default computed later)."""

    def accepts(value: object) -> bool:
        if value is None:
            return or_none
        return isinstance(value, int) and not isinstance(value, bool) and value >= low

    return accepts


def number_in(
    low: float, high: float = math.inf, *, low_open: bool = False, high_open: bool = False
) -> Callable[[object], bool]:
    """A finite real number from `low` to `high` (each end included unless open)."""

    def accepts(value: object) -> bool:
        if not isinstance(value, int | float) or isinstance(value, bool):
            return False
        if not math.isfinite(value):
            return False
        above = value > low if low_open else value >= low
        below = value < high if high_open else value <= high
        return above and below

    return accepts


def one_of(*choices: str) -> Callable[[object], bool]:
    return lambda value: value in choices
