"""A learner's settings: from keyword arguments first, then from the environment that
`swarm sl` prepares, then defaults. HPE Swarm Learning's camelCase names are accepted too, so
programs written for it run with few changes."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from swarm_learning.merge import DEFAULT_METHOD, MergeChoice, choose_merge, parse_params
from swarm_network.errors import ConfigError
from swarm_network.trainings import DEFAULT_TRAINING, TRAINING_NAME_RE

# HPE camelCase -> our snake_case
CAMEL_ALIASES = {
    "syncFrequency": "sync_frequency",
    "minPeers": "min_peers",
    "nodeWeightage": "node_weightage",
    "numSamples": "num_samples",
    "totalEpochs": "total_epochs",
    "mergeMethod": "merge_method",
    "useAdaptiveSync": "use_adaptive_sync",
    "checkinModelOnTrainEnd": "checkin_model_on_train_end",
    "trainingContract": "training_contract",
    "mlPlatform": "ml_platform",
}
#: What a learner that reached its stopping point contributes while others still train
#: (README, "HPE's parameters").
CHECKIN_MODES = ("inactive", "snapshot", "active")
#: HPE's range for nodeWeightage.
MAX_NODE_WEIGHTAGE = 100
#: HPE's default training name: it means our default training.
HPE_DEFAULT_TRAINING = "defaultbb.cqdb.sml.hpe"
ML_PLATFORMS = ("PYTORCH", "KERAS", "TF")

# setting -> environment variable that `swarm sl` sets
ENV_NAMES = {
    "sn_url": "SWARM_SN_URL",
    "join_token": "SWARM_JOIN_TOKEN",
    "node_dir": "SWARM_NODE_DIR",
    "data_dir": "SWARM_DATA_DIR",
    "model_dir": "SWARM_MODEL_DIR",
    "file_host": "SWARM_FILE_HOST",
    "file_port": "SWARM_FILE_PORT",
    "advertise_host": "SWARM_ADVERTISE_HOST",
    "program_name": "SWARM_PROGRAM_NAME",
    "device": "SWARM_DEVICE",
    "grace_seconds": "SWARM_GRACE_SECONDS",
    "max_staleness": "SWARM_MAX_STALENESS",
    "peer_timeout_s": "SWARM_PEER_TIMEOUT",
    "quorum_timeout_s": "SWARM_QUORUM_TIMEOUT",
    "final_timeout_s": "SWARM_FINAL_TIMEOUT",
    "chain_retry_s": "SWARM_CHAIN_RETRY",
    "training_contract": "SWARM_TRAINING",
    "shards": "SWARM_SHARDS",
    "shard_replication": "SWARM_SHARD_REPLICATION",
    "shard_timeout_s": "SWARM_SHARD_TIMEOUT",
}


#: `sync_frequency="epoch"`: one sync step per local epoch (at `on_epoch_end`).
SYNC_EVERY_EPOCH = "epoch"


@dataclass
class LearnerSettings:
    """Every knob of a learner node, with the defaults documented in the README."""

    sync_frequency: int | str = 32  # local batches between two sync steps, or "epoch"
    min_peers: int = 2  # learners needed to close a step (quorum)
    node_weightage: int = 1  # this node's weight in the merge (relative), 1-100
    num_samples: int | None = None  # local training samples: the weight when weighing by samples
    total_epochs: int | None = None  # progress messages and the metrics' `progress`
    use_adaptive_sync: bool = False  # the interval follows the agreed validation loss
    # One of CHECKIN_MODES. HPE's default, so that HPE programs that leave it out behave as
    # documented: a learner that stops early (less data, fewer epochs) keeps its work in the
    # merges of those still training, instead of the swarm losing it for the rest of the
    # training. The price: it waits for the last of them (at most final_timeout_s when one
    # died in the last step, `after_stop.await_training_step`).
    checkin_model_on_train_end: str = "snapshot"
    training_contract: str = DEFAULT_TRAINING  # which training of the swarm to join
    ml_platform: str = "PYTORCH"  # which callback the program uses (checked by it)
    merge_method: str = DEFAULT_METHOD
    merge_params: str = "{}"  # JSON object (a dict is accepted and turned into its JSON)
    grace_seconds: int = 10  # after quorum, how long a step waits for the other live learners
    max_staleness: int = 2  # how many steps late a slow learner's work may still be merged
    peer_timeout_s: float = 30.0  # how long a peer file download may take before it is skipped
    quorum_timeout_s: float | None = None  # None: wait for quorum forever (training pauses)
    final_timeout_s: float = 600.0  # at the end, how long to wait for the others to finish
    chain_retry_s: float = 300.0  # how long to retry, with backoff, while the chain is unreachable
    archive_wait_s: float = 15.0  # at the end, how long to serve until an SN node copied the model
    poll_interval_s: float = 0.02  # first chain poll interval while waiting; backs off x1.5
    max_poll_interval_s: float = 0.25
    # Sharded merge (docs/ARCHITECTURE.md, "Sharded merge"), set by the training's first
    # learner: None picks by swarm and model size, 0 merges whole models, N >= 2 cuts the
    # model into N shards, each merged by `shard_replication` learners.
    shards: int | None = None
    shard_replication: int = 1
    shard_timeout_s: float = 30.0  # how long a shard's mergers may take before it is merged here
    sn_url: str = "http://127.0.0.1:30304"
    join_token: str | None = None
    node_dir: Path = field(default_factory=lambda: Path("swarm-node"))
    data_dir: Path | None = None
    model_dir: Path | None = None
    file_host: str = "127.0.0.1"
    file_port: int = 30305
    advertise_host: str | None = None
    program_name: str = "swarm"
    device: str = "cpu"

    @classmethod
    def resolve(
        cls, overrides: dict[str, Any], environ: dict[str, str] | None = None
    ) -> LearnerSettings:
        environ = dict(os.environ) if environ is None else environ
        values: dict[str, Any] = {}
        for name, value in overrides.items():
            key = CAMEL_ALIASES.get(name, name)
            if key in values:
                raise ConfigError(f"setting {key!r} given twice (as {name!r})")
            values[key] = value
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(unknown)}")
        for key, env_name in ENV_NAMES.items():
            if key not in values and environ.get(env_name):
                values[key] = environ[env_name]
        settings = cls(**values)
        settings._coerce()
        return settings

    def _coerce(self) -> None:
        """Environment values arrive as text; check every value once, with a clear message."""
        self.sync_frequency = _sync_frequency(self.sync_frequency)
        for name in (
            "min_peers",
            "node_weightage",
            "grace_seconds",
            "max_staleness",
            "file_port",
        ):
            setattr(self, name, _as_int(name, getattr(self, name)))
        for name in (
            "peer_timeout_s",
            "poll_interval_s",
            "max_poll_interval_s",
            "final_timeout_s",
            "chain_retry_s",
            "archive_wait_s",
            "shard_timeout_s",
        ):
            setattr(self, name, _as_seconds(name, getattr(self, name)))
        if self.num_samples is not None:
            self.num_samples = _as_int("num_samples", self.num_samples)
            if self.num_samples < 1:
                raise ConfigError("num_samples must be a positive integer")
        if self.shards is not None:
            self.shards = _as_int("shards", self.shards)
            if self.shards == 1 or self.shards < 0:
                raise ConfigError("shards must be 0 (whole models) or at least 2")
        self.shard_replication = _as_int("shard_replication", self.shard_replication)
        if self.shard_replication < 1:
            raise ConfigError("shard_replication must be at least 1")
        if self.quorum_timeout_s is not None:
            self.quorum_timeout_s = _as_seconds("quorum_timeout_s", self.quorum_timeout_s)
        if self.min_peers < 1:
            raise ConfigError("min_peers must be at least 1")
        if not 1 <= self.node_weightage <= MAX_NODE_WEIGHTAGE:
            raise ConfigError(
                f"node_weightage (nodeWeightage) must be an integer from 1 to "
                f"{MAX_NODE_WEIGHTAGE}, got {self.node_weightage}"
            )
        if self.total_epochs is not None:
            self.total_epochs = _as_int("total_epochs", self.total_epochs)
            if self.total_epochs < 1:
                raise ConfigError("total_epochs (totalEpochs) must be a positive integer")
        self.use_adaptive_sync = _as_bool("use_adaptive_sync", self.use_adaptive_sync)
        self._check_choices()
        if self.grace_seconds < 0:
            raise ConfigError("grace_seconds must be >= 0")
        if self.max_staleness < 0:
            raise ConfigError("max_staleness must be >= 0")
        self.merge_method = str(self.merge_method).strip().lower()
        self.merge_params = _params_text(self.merge_params)
        # A wrong method or parameter, or weighing by samples without giving them, fails
        # now, before the node joins, with the message the merge would give.
        self.weightage(self.merge_choice())
        self.node_dir = Path(self.node_dir)
        self.model_dir = Path(self.model_dir) if self.model_dir else self.node_dir / "model"
        self.data_dir = Path(self.data_dir) if self.data_dir else self.node_dir / "data"
        self.sn_url = self.sn_url.rstrip("/")

    def _check_choices(self) -> None:
        mode = str(self.checkin_model_on_train_end).strip().lower()
        if mode not in CHECKIN_MODES:
            raise ConfigError(
                f"checkin_model_on_train_end (checkinModelOnTrainEnd) must be one of "
                f"{', '.join(CHECKIN_MODES)}, got {self.checkin_model_on_train_end!r}"
            )
        self.checkin_model_on_train_end = mode
        platform = str(self.ml_platform).strip().upper()
        if platform not in ML_PLATFORMS:
            raise ConfigError(
                f"ml_platform (mlPlatform) must be one of {', '.join(ML_PLATFORMS)}, "
                f"got {self.ml_platform!r}"
            )
        self.ml_platform = platform
        name = str(self.training_contract).strip()
        self.training_contract = DEFAULT_TRAINING if name == HPE_DEFAULT_TRAINING else name
        if not TRAINING_NAME_RE.fullmatch(self.training_contract):
            raise ConfigError(
                "training_contract (trainingContract) must be 1-64 letters, digits, '.', '_' "
                f"or '-', got {self.training_contract!r}"
            )

    def merge_choice(self) -> MergeChoice:
        """The merge method and parameters this node asks for, checked."""
        params = parse_params(self.merge_params, "given to this node")
        return choose_merge(self.merge_method, params)

    def weightage(self, merge: MergeChoice) -> int:
        """The weightage this learner checks in with: its `node_weightage`, or its sample
        count when the training's method weighs by samples. The merge itself only ever reads
        weightages from the chain, so every node weighs every contribution alike."""
        if not merge.weighs_by_samples:
            return self.node_weightage
        if self.num_samples is None:
            raise ConfigError(
                f"this training weighs contributions by sample count (merge method "
                f"{merge.name!r} with {dict(merge.params)}): pass num_samples (the number of "
                "local training samples) to SwarmCallback"
            )
        return self.num_samples


def _sync_frequency(value: Any) -> int | str:
    """A number of local batches (at least 1), or "epoch"."""
    if isinstance(value, str) and value.strip().lower() == SYNC_EVERY_EPOCH:
        return SYNC_EVERY_EPOCH
    try:
        batches = _as_int("sync_frequency", value)
    except ConfigError:
        raise ConfigError(
            f'sync_frequency must be a number of batches or "epoch", got {value!r}'
        ) from None
    if batches < 1:
        raise ConfigError("sync_frequency must be at least 1")
    return batches


def _params_text(value: Any) -> str:
    """`merge_params` as its JSON text: the README calls it a JSON object, so both a dict and
    its text are accepted; anything else would fail deep in the chain client."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        try:
            return json.dumps(dict(value), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"merge_params must hold only JSON values: {exc}") from None
    raise ConfigError(
        "merge_params must be a dict or a JSON object as text, e.g. '{\"beta\": 0.2}'; "
        f"got {type(value).__name__} {value!r}"
    )


def _as_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be an integer, got {value!r}") from None


def _as_bool(name: str, value: Any) -> bool:
    """A flag, also as the environment spells it ("1", "true", "no"...)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name} must be true or false, got {value!r}")


def _as_seconds(name: str, value: Any) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number of seconds, got {value!r}") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise ConfigError(f"{name} must be a finite, non-negative number of seconds")
    return seconds
