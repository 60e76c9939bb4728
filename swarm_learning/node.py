"""A learner node's life outside the training loop: identity, file server, joining the swarm
through its SN node, and agreeing on the training's settings with the chain."""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path

import requests

from swarm_learning.merge import choose_merge, parse_params
from swarm_learning.peer_files import PeerFiles
from swarm_learning.round_context import RoundContext
from swarm_learning.settings import LearnerSettings
from swarm_learning.sharding.choice import check_agrees, requested_sharding
from swarm_learning.training import Training
from swarm_learning.weights import WeightSchema
from swarm_network.admission import sign_join
from swarm_network.backoff import Backoff
from swarm_network.chain import SwarmContract, connect
from swarm_network.chain.identity import load_or_create_key
from swarm_network.chain.records import TrainingConfig
from swarm_network.chain.sharding import configure_sharded_training, training_sharding
from swarm_network.errors import AdmissionError, AlreadyConfigured, ChainError, ConfigError
from swarm_network.feed_client import EventFeed
from swarm_network.files.fetch import Fetcher
from swarm_network.files.server import BackgroundServer, create_file_app
from swarm_network.files.store import FileStore

log = logging.getLogger(__name__)

JOIN_RETRY_S = 60.0


def sn_request(method: str, url: str, *, wait_s: float = JOIN_RETRY_S, **kwargs: object) -> dict:
    """Talk to the SN node, retrying for up to `wait_s` while it is not up yet (peers may
    start in any order)."""
    trouble = "no answer"
    for _ in Backoff(first_s=0.2, max_s=2.0, deadline_s=wait_s).sleeps():
        try:
            response = requests.request(method, url, timeout=30, **kwargs)  # type: ignore[arg-type]
        except requests.RequestException as exc:
            trouble = f"SN node unreachable at {url}: {exc}"
            continue
        try:
            body = response.json()
        except ValueError:
            body = {"error": response.text[:200]}
        if response.status_code == 403:
            raise AdmissionError(f"join refused: {body.get('error')}")
        if response.status_code >= 400:
            trouble = f"{url} answered {response.status_code}: {body.get('error')}"
            if response.status_code >= 500:
                continue
            raise ChainError(trouble)
        return body
    raise ChainError(f"{trouble} (for {wait_s:.0f}s)")


class LearnerNode:
    def __init__(self, settings: LearnerSettings) -> None:
        self.settings = settings
        self.store = FileStore(settings.node_dir / "files")
        self.account = load_or_create_key(settings.node_dir / "node.key")
        self._server: BackgroundServer | None = None
        self.fetcher = Fetcher(self.store, timeout_s=settings.peer_timeout_s)
        self.feed = EventFeed(settings.sn_url, settings.training_contract)
        self.contract: SwarmContract | None = None

    @property
    def address(self) -> str:
        return self.account.address

    def start(self) -> None:
        s = self.settings
        self._server = BackgroundServer(
            create_file_app(self.store), host=s.file_host, port=s.file_port
        ).start()
        host = s.advertise_host or self._server.url.split("//", 1)[1].rsplit(":", 1)[0]
        file_url = f"http://{host}:{self._server.port}"
        if not s.join_token:
            raise ConfigError("no join token: pass --join-token or set SWARM_JOIN_TOKEN")
        joined = sn_request(
            "POST",
            f"{s.sn_url}/v1/join",
            json={
                "address": self.address,
                "role": "learner",
                "file_url": file_url,
                "signature": sign_join(self.account, "learner", file_url, s.training_contract),
                "token": s.join_token,
                "training": s.training_contract,
            },
        )
        chain = sn_request("GET", f"{s.sn_url}/v1/chain")
        self.contract = SwarmContract(
            w3=connect(f"{s.sn_url}{chain['rpc_proxy_path']}"),
            address=joined["contract_address"],  # the contract of the training joined
            account=self.account,
            retry_s=s.chain_retry_s,
        )
        if self.contract.node(self.address).file_url != file_url:
            self.contract.set_file_url(file_url)
        log.info(
            "learner %s %s the swarm (training %s, contract %s), serving files at %s",
            self.address,
            "rejoined" if joined.get("rejoined") else "joined",
            s.training_contract,
            joined["contract_address"],
            file_url,
        )

    def agree_on_training(
        self, schema: WeightSchema
    ) -> tuple[str, dict[str, object], TrainingConfig]:
        """Configure the training on chain if nobody has; else check we use the same settings
        and the same model layout (its schema hash is on chain), so that a learner with
        another model is refused before its first step instead of having every file refused."""
        assert self.contract is not None
        s = self.settings
        config = self.contract.training_config()
        if not config.configured:
            # Another learner may get there first (both dry runs pass): its settings are
            # compared below.
            sharding = requested_sharding(
                s, s.merge_choice(), schema, max(s.min_peers, self.contract.unfinished_learners())
            )
            training = {
                "min_peers": s.min_peers,
                "grace_seconds": s.grace_seconds,
                "max_staleness": s.max_staleness,
                "merge_method": s.merge_method,
                "merge_params": s.merge_params,
                "schema_hash": "0x" + schema.digest(),
            }
            with contextlib.suppress(AlreadyConfigured):
                if sharding is None:
                    self.contract.configure_training(**training)  # type: ignore[arg-type]
                else:
                    configure_sharded_training(self.contract, sharding=sharding, **training)  # type: ignore[arg-type]
            config = self.contract.training_config()
        if config.schema_hash != schema.digest():
            raise ConfigError(
                "this node's model does not fit the swarm's: its tensor names, shapes or dtypes "
                f"differ (schema {schema.digest()[:12]}, the swarm's "
                f"{(config.schema_hash or 'none')[:12]})"
            )
        if config.min_peers != s.min_peers:
            raise ConfigError(
                f"this node asks for min_peers={s.min_peers} but the swarm's training uses "
                f"min_peers={config.min_peers}"
            )
        if config.merge_method != s.merge_method:
            raise ConfigError(
                f"this node asks for merge method {s.merge_method!r} but the swarm's training "
                f"uses {config.merge_method!r}"
            )
        check_agrees(s, training_sharding(self.contract))
        params = parse_params(config.merge_params, "on chain")
        if params != parse_params(s.merge_params, "given to this node"):
            raise ConfigError(
                f"this node asks for merge parameters {s.merge_params} but the swarm's training "
                f"uses {config.merge_params}"
            )
        return config.merge_method, params, config

    def agree_on_sync(self) -> None:
        """Record (first learner) or check the training's sync settings: under adaptive sync
        every learner must start from the same interval, or they would compute different ones."""
        assert self.contract is not None
        s = self.settings
        config = self.contract.sync_config()
        if not config.configured:
            with contextlib.suppress(AlreadyConfigured):
                # The recorded frequency is only compared under adaptive sync, which refuses
                # "epoch" at start (each learner's own period): any valid number stands for it.
                frequency = s.sync_frequency if isinstance(s.sync_frequency, int) else 1
                self.contract.configure_sync(sync_frequency=frequency, adaptive=s.use_adaptive_sync)
            config = self.contract.sync_config()
        if config.adaptive != s.use_adaptive_sync:
            raise ConfigError(
                f"this node asks for use_adaptive_sync={s.use_adaptive_sync} but the swarm's "
                f"training uses use_adaptive_sync={config.adaptive}"
            )
        if config.adaptive and config.sync_frequency != s.sync_frequency:
            raise ConfigError(
                f"under adaptive sync every learner starts from the same interval: this node "
                f"asks for sync_frequency={s.sync_frequency}, the swarm's training uses "
                f"{config.sync_frequency}"
            )

    def round_context(self, schema: WeightSchema) -> RoundContext:
        """What this learner's sync rounds work with, once the training is agreed."""
        assert self.contract is not None
        method, params, config = self.agree_on_training(schema)
        self.agree_on_sync()
        merge = choose_merge(method, params)
        sharding = training_sharding(self.contract)
        if sharding is not None and not merge.method.coordinate_wise:
            raise ConfigError(
                f"the swarm's training shards {method!r}, which is not coordinate-wise"
            )
        training = Training(
            merge=merge,
            grace_seconds=config.grace_seconds,
            max_staleness=config.max_staleness,
            weightage=self.settings.weightage(merge),
            sharding=sharding,
        )
        peers = PeerFiles(contract=self.contract, fetcher=self.fetcher, schema=schema)
        return RoundContext(
            contract=self.contract,
            store=self.store,
            settings=self.settings,
            schema=schema,
            training=training,
            peers=peers,
            feed=self.feed,
        )

    def stop(self) -> None:
        self.fetcher.close()
        self.feed.close()
        if self._server is not None:
            self._server.stop()
            self._server = None


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
NODE_LOGGERS = ("swarm_learning", "swarm_network")


def attach_log_handlers(path: Path) -> list[logging.Handler]:
    """`<program-name>_sw.log`, the swarm's own log of this learner beside its model, and the
    console (stderr), so that a person sees the node's progress (INFO) where they started it.
    A program that set logging up itself (its root logger has a handler) gets the records
    through its own handler instead, once, in its own format."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handlers: list[logging.Handler] = [logging.FileHandler(path, encoding="utf-8")]
    if not logging.getLogger().handlers:
        handlers.append(logging.StreamHandler(sys.stderr))
    for handler in handlers:
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler.setLevel(logging.INFO)
    for name in NODE_LOGGERS:
        logger = logging.getLogger(name)
        for handler in handlers:
            logger.addHandler(handler)
        if logger.level == logging.NOTSET or logger.level > logging.INFO:
            logger.setLevel(logging.INFO)
    return handlers


def detach_log_handlers(handlers: list[logging.Handler]) -> None:
    for handler in handlers:
        for name in NODE_LOGGERS:
            logging.getLogger(name).removeHandler(handler)
        handler.close()
