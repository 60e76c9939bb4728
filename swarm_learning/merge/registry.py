"""The merge methods by name. Each module of `BUILT_IN` declares its `METHODS`; adding a method
is one new module in this package and one line here (README, "Adding a merge method").
`register` adds one from elsewhere (a training program, a test) at run time."""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping

from swarm_network.errors import ConfigError

from .method import MergeChoice, MergeMethod

#: Modules of this package that hold merge methods, each with a `METHODS` tuple.
BUILT_IN = (
    "mean",
    "coordmedian",
    "geomedian",
    "trimmedmean",
    "krum",
)

METHODS: dict[str, MergeMethod] = {}

#: The method of a training that names none.
DEFAULT_METHOD = "mean"


def register(method: MergeMethod) -> MergeMethod:
    """Make `method` choosable by its name; a name is taken once."""
    if method.name in METHODS:
        raise ValueError(f"a merge method named {method.name!r} is already registered")
    METHODS[method.name] = method
    return method


for _module in BUILT_IN:
    for _method in importlib.import_module(f"{__package__}.{_module}").METHODS:
        register(_method)


def get_method(name: object) -> MergeMethod:
    """The method called `name` (case-insensitive, surrounding spaces ignored)."""
    key = name.strip().lower() if isinstance(name, str) else name
    method = METHODS.get(key) if isinstance(key, str) else None
    if method is None:
        known = ", ".join(sorted(METHODS))
        raise ConfigError(f"unknown merge method {name!r}; known methods: {known}")
    return method


def choose_merge(name: object, params: Mapping[str, object] | str) -> MergeChoice:
    """The method `name` with `params` (a mapping, or its JSON text as settings and the chain
    hold it), checked: the one check of merge parameters, wherever they come from."""
    if isinstance(params, str):
        params = parse_params(params)
    method = get_method(name)
    return MergeChoice(method=method, params=method.check_params(params))


def parse_params(text: str, where: str = "") -> dict[str, object]:
    """Merge parameters from their JSON text ("" means none); `where` says whose they are."""
    where = f" {where}" if where else ""
    try:
        params = json.loads(text or "{}")
    except ValueError as exc:
        raise ConfigError(f"merge parameters{where} are not JSON: {exc}") from exc
    if not isinstance(params, dict):
        raise ConfigError(f"merge parameters{where} must be a JSON object, got {text!r}")
    return params
