"""Bindings of the SwarmLearning contract: deployment, typed writes, reads as the records of
`records.py`. Transport is in `transport.py`, the transaction pipeline in `transactions.py`,
the decoding of refusals in `reverts.py`."""

from __future__ import annotations

import logging
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

from contracts import load_artifact
from swarm_network.chain.records import (
    ROLE_IDS,
    ZERO_HASH,
    Contribution,
    FinalModel,
    NodeRecord,
    StepRecord,
    StepStatus,
    SwarmSummary,
    TrainingConfig,
    contributions_from_call,
    final_model_from_call,
    hex_to_hash,
    node_from_call,
    step_from_call,
    step_status_from_call,
    training_config_from_call,
)
from swarm_network.chain.reverts import CONTRACT_NAME
from swarm_network.chain.sync_calls import SyncCalls
from swarm_network.chain.transactions import TransactionSender, receipt_revert
from swarm_network.chain.transport import chain_call, retrying
from swarm_network.errors import ChainError, ContractRevert

log = logging.getLogger(__name__)

GAS_MARGIN = 1.25
DEPLOY_TIMEOUT_S = 120.0
# Far above any of our transactions: a check-in uses about 160k gas, whatever the swarm's size
# (benchmarks/chain_gas.py).
TX_GAS_LIMIT = 5_000_000
TRANSFER_GAS = 21_000


class SwarmContract(SyncCalls):
    """The contract as one node (one key) uses it (stopped learners and adaptive sync:
    `SyncCalls`)."""

    def __init__(
        self,
        *,
        w3: Web3,
        address: str,
        account: LocalAccount | None = None,
        receipt_timeout_s: float = 60.0,
        retry_s: float = 0.0,
        contract_name: str = CONTRACT_NAME,
        sender: TransactionSender | None = None,
    ) -> None:
        """`retry_s`: how long to keep retrying, with backoff, while the chain endpoint is
        unreachable (a restarting sentinel) before giving up with ChainUnavailable. Learners
        wait; a REST server answers 503 at once (0). Without `account` it can only read.
        `contract_name`: another of the project's contracts (its artifact's ABI), so that its
        bindings share this one transaction path instead of writing a second. `sender`: the
        transaction pipeline of another binding of the same key, so that the key's nonce stays
        one sequence (two senders of one key race for the same nonce)."""
        self.w3 = w3
        self.address = Web3.to_checksum_address(address)
        self.contract = w3.eth.contract(
            address=self.address, abi=load_artifact(contract_name)["abi"]
        )
        self.account = account
        self.retry_s = retry_s
        self._chain_id: int | None = None
        if sender is not None and (account is None or sender.account.address != account.address):
            raise ValueError("a shared sender must hold this client's own key")
        self._sender = (
            sender
            if sender is not None or account is None
            else TransactionSender(
                w3=w3, account=account, receipt_timeout_s=receipt_timeout_s, retry_s=retry_s
            )
        )

    # ------------------------------------------------------------------ deployment

    @classmethod
    def deploy(cls, *, w3: Web3, account: LocalAccount, sentinel_file_url: str) -> SwarmContract:
        artifact = load_artifact(CONTRACT_NAME)
        factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        constructor = factory.constructor(sentinel_file_url)

        def prepare() -> dict[str, Any]:
            gas = chain_call(
                "eth_estimateGas", lambda: constructor.estimate_gas({"from": account.address})
            )
            return {"data": constructor.data_in_transaction, "gas": int(gas * GAS_MARGIN)}

        sender = TransactionSender(
            w3=w3, account=account, receipt_timeout_s=DEPLOY_TIMEOUT_S, retry_s=0.0
        )
        receipt = sender.send(prepare)
        if receipt["status"] != 1:
            raise receipt_revert(receipt) or ContractRevert("the deployment reverted")
        address = receipt["contractAddress"]
        log.info("deployed %s at %s", CONTRACT_NAME, address)
        return cls(w3=w3, address=address, account=account)

    def code_matches_artifact(self) -> bool:
        """True when the address holds our contract's runtime code (not some other contract)."""
        code = chain_call("eth_getCode", lambda: self.w3.eth.get_code(self.address))
        return bytes(code).hex() == load_artifact(CONTRACT_NAME)["deployedBytecode"][2:]

    # ------------------------------------------------------------------ transactions

    def transact(self, function_name: str, *args: Any, dry_run: bool = True) -> dict[str, Any]:
        """Sign and send one contract call; returns the receipt or raises the refusal (a
        ContractRevert subclass, see `reverts.REFUSALS`).

        With `dry_run` the call is first run as an eth_call, so a refusal is raised before
        anything is sent and leaves no block behind: right for transactions that are often
        refused by design (a close or settle tried as soon as our clock says it may pass).
        Without, it is sent at once: right for the steady path (a check-in every step),
        where the dry run would be one more round trip for a refusal that rarely comes.
        A refusal is then read from the receipt (our embedded chain and Besu keep the revert
        data there) or, on chains that keep none (anvil, geth), explained by a dry run after
        the fact. Either way the gas limit is fixed: eth_estimateGas is a binary search of
        many executions (about 5x one eth_call on py-evm), and only the gas used is paid.
        """
        sender = self._key()
        fn = getattr(self.contract.functions, function_name)(*args)

        def explain() -> None:
            # On the pending block, i.e. the block the transaction would land in: its
            # timestamp is now. On "latest", geth and anvil use the last block's timestamp,
            # so on an idle chain a deadline (a grace period) would never seem to pass, no
            # transaction would be sent, and no block would ever move the time on.
            chain_call(
                "eth_call",
                lambda: fn.call({"from": sender.account.address}, block_identifier="pending"),
            )

        def prepare() -> dict[str, Any]:  # run inside the sender's retries
            if dry_run:
                explain()
            data = self.contract.encode_abi(function_name, args=list(args))
            return {"to": self.address, "data": data, "gas": TX_GAS_LIMIT}

        receipt = sender.send(prepare)
        if receipt["status"] == 1:
            return receipt
        refusal = receipt_revert(receipt)
        if refusal is not None:
            raise refusal
        # A chain that keeps no revert data: a dry run now tells why it fails. One that passes
        # means another node changed the state before our block (a race lost).
        explain()
        raise ContractRevert(f"{function_name} reverted in its block, though a dry run passes")

    def send_value(self, to: str, wei: int) -> dict[str, Any]:
        def prepare() -> dict[str, Any]:
            return {"to": Web3.to_checksum_address(to), "value": wei, "gas": TRANSFER_GAS}

        receipt = self._key().send(prepare)
        if receipt["status"] != 1:
            raise ChainError(f"the transfer of {wei} wei to {to} failed")
        return receipt

    def deploy_beside(
        self, contract_name: str, *constructor_args: Any, gas: int | None = None
    ) -> str:
        """Deploy another of the project's contracts from this client's key (the sentinel's:
        its pipeline contract, another training's contract), through the same sender so that
        the key's nonce stays one sequence; returns the new contract's address. Without
        `gas`, the chain estimates it."""
        artifact = load_artifact(contract_name)
        factory = self.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        constructor = factory.constructor(*constructor_args)
        data = constructor.data_in_transaction
        sender = self._key()

        def prepare() -> dict[str, Any]:
            if gas is not None:
                return {"data": data, "gas": gas}
            estimate = chain_call(
                "eth_estimateGas",
                lambda: constructor.estimate_gas({"from": sender.account.address}),
            )
            return {"data": data, "gas": int(estimate * GAS_MARGIN)}

        receipt = sender.send(prepare)
        if receipt["status"] != 1 or not receipt.get("contractAddress"):
            raise receipt_revert(receipt) or ChainError(f"deploying {contract_name} failed")
        return Web3.to_checksum_address(receipt["contractAddress"])

    @property
    def sender(self) -> TransactionSender | None:
        return self._sender

    def _key(self) -> TransactionSender:
        if self._sender is None:
            raise ChainError("this client has no key; it can only read")
        return self._sender

    # ------------------------------------------------------------------ writes

    def enroll(self, node: str, role: str, file_url: str) -> None:
        self.transact("enroll", Web3.to_checksum_address(node), ROLE_IDS[role], file_url)

    def set_file_url(self, file_url: str) -> None:
        self.transact("setFileUrl", file_url)

    def configure_training(
        self,
        *,
        min_peers: int,
        grace_seconds: int,
        merge_method: str,
        merge_params: str,
        max_staleness: int = 0,
        schema_hash: str = ZERO_HASH,
    ) -> None:
        """`schema_hash`: the 32-byte hash of the model's weight layout (0x-hex or plain hex)
        that every learner compares with its own before its first step. Zero states none (a
        training configured without a model, as contract tests do): a learner comparing its
        own schema hash with it then finds they differ."""
        self.transact(
            "configureTraining",
            min_peers,
            grace_seconds,
            max_staleness,
            hex_to_hash(schema_hash),
            merge_method,
            merge_params,
        )

    def check_in(
        self, *, step: int, weight_hash: str, weightage: int, base_hash: str, rejected_mask: int = 0
    ) -> int:
        """The number of the block the check-in is in: the events after it are news."""
        receipt = self.transact(
            "checkIn",
            step,
            hex_to_hash(weight_hash),
            weightage,
            hex_to_hash(base_hash),
            rejected_mask,
            dry_run=False,
        )
        return int(receipt["blockNumber"])

    def close_step(self, step: int) -> None:
        self.transact("closeStep", step)

    def report_merge(self, step: int, merged_hash: str, rejected_mask: int = 0) -> None:
        self.transact("reportMerge", step, hex_to_hash(merged_hash), rejected_mask, dry_run=False)

    def settle_merge(self, step: int) -> None:
        self.transact("settleMerge", step)

    def finish(self) -> None:
        self.transact("finish")

    def add_training(self, name: str, address: str) -> None:
        """Record another training's contract under its name (the sentinel, on the swarm's
        first contract: docs/ARCHITECTURE.md, "Concurrent trainings")."""
        self.transact("addTraining", name, Web3.to_checksum_address(address))

    # ------------------------------------------------------------------ reads

    @property
    def chain_id(self) -> int:
        """Read once: a chain keeps its id."""
        if self._chain_id is None:
            self._chain_id = chain_call("eth_chainId", lambda: self.w3.eth.chain_id)
        return self._chain_id

    def _read(self, function_name: str, *args: Any) -> Any:
        fn = getattr(self.contract.functions, function_name)(*args)
        return retrying(function_name, fn.call, retry_s=self.retry_s)

    def _read_together(self, *calls: tuple[str, tuple[Any, ...]]) -> list[Any]:
        """Several reads in one JSON-RPC batch: one round trip (each read runs on the head
        as it is when its turn comes, as separate reads would)."""

        def batch() -> list[Any]:
            with self.w3.batch_requests() as requests:
                for function_name, args in calls:
                    requests.add(getattr(self.contract.functions, function_name)(*args))
                return list(requests.execute())

        what = "+".join(name for name, _ in calls)
        return retrying(what, batch, retry_s=self.retry_s)

    def block_number(self) -> int:
        return retrying("eth_blockNumber", lambda: self.w3.eth.block_number, retry_s=self.retry_s)

    def current_step(self) -> int:
        return int(self._read("currentStep"))

    def training_config(self) -> TrainingConfig:
        return training_config_from_call(self._read("getTrainingConfig"))

    def node(self, address: str) -> NodeRecord:
        checksum = Web3.to_checksum_address(address)
        return node_from_call(checksum, self._read("getNode", checksum))

    def nodes(self) -> list[NodeRecord]:
        return [self.node(address) for address in self._read("getNodes")]

    def step(self, step: int) -> StepRecord:
        return step_from_call(step, self._read("getStep", step))

    def contributions(self, step: int) -> list[Contribution]:
        return contributions_from_call(self._read("getContributions", step))

    def step_status(self, step: int) -> StepStatus:
        return step_status_from_call(self._read("stepStatus", step))

    def status_and_contributions(self, step: int) -> tuple[StepStatus, list[Contribution]]:
        """`step_status` and `contributions` of one step, in one round trip."""
        status, contributions = self._read_together(
            ("stepStatus", (step,)), ("getContributions", (step,))
        )
        return step_status_from_call(status), contributions_from_call(contributions)

    def closed_step(self, step: int) -> tuple[list[Contribution], str | None]:
        """A closed step's contributions and the previous step's agreed hash (None for
        step 0, or while it is not agreed), in one round trip."""
        if step == 0:
            return self.contributions(0), None
        contributions, previous = self._read_together(
            ("getContributions", (step,)), ("getStep", (step - 1,))
        )
        return contributions_from_call(contributions), step_from_call(
            step - 1, previous
        ).agreed_hash

    def training_of(self, name: str) -> str | None:
        """The contract of the named training recorded on this (the swarm's first) contract."""
        address = self._read("trainingOf", name)
        return None if int(address, 16) == 0 else Web3.to_checksum_address(address)

    def named_trainings(self) -> dict[str, str]:
        """Every training recorded on this contract, name -> contract, in the order added."""
        names, addresses = self._read("getTrainings")
        return {n: Web3.to_checksum_address(a) for n, a in zip(names, addresses, strict=True)}

    def final_model(self) -> FinalModel:
        return final_model_from_call(self._read("finalModel"))

    def training_ended(self) -> bool:
        return bool(self._read("trainingEnded"))

    def unfinished_learners(self) -> int:
        return int(self._read("learnerCount")) - int(self._read("finishedCount"))

    def effective_quorum(self) -> int:
        return int(self._read("effectiveQuorum"))

    def live_learners(self, step: int) -> int:
        return int(self._read("liveLearners", step))

    def summary(self) -> SwarmSummary:
        current = self.current_step()
        return SwarmSummary(
            block_number=self.block_number(),
            current_step=current,
            learner_count=int(self._read("learnerCount")),
            finished_count=int(self._read("finishedCount")),
            effective_quorum=self.effective_quorum(),
            live_learners=self.live_learners(current),
            open_step=self.step(current),
            config=self.training_config(),
            training_ended=self.training_ended(),
        )
