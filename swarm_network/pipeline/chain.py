"""Bindings of the SwarmPipeline contract for one node (one key).

Transactions go through the chain client's own sending code (dry run on the pending block,
local signing, nonce tracking, redelivery while the endpoint restarts): a `SwarmContract` is
built for this key and given the pipeline contract's ABI, so that there is one transaction path
in the project, not two.
"""

from __future__ import annotations

import logging
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

from contracts import load_artifact
from swarm_network.chain import SwarmContract
from swarm_network.chain.records import hex_to_hash
from swarm_network.chain.transactions import TransactionSender
from swarm_network.chain.transport import retrying
from swarm_network.pipeline.records import (
    Decision,
    IterationRecord,
    PipelineRecord,
    ResultRecord,
    RunRecord,
    TaskSpecRecord,
    WorkerRecord,
    iteration_from_call,
    pipeline_from_call,
    result_from_call,
    run_from_call,
    task_specs_from_call,
    worker_from_call,
)

log = logging.getLogger(__name__)

CONTRACT_NAME = "SwarmPipeline"
ZERO_HASH = "0" * 64


def dataset_id(name: str) -> str:
    """How the contract names a dataset: keccak of its name (hex, no 0x)."""
    return Web3.keccak(text=name).hex().removeprefix("0x")


class PipelineContract:
    def __init__(
        self,
        *,
        w3: Web3,
        address: str,
        account: LocalAccount | None = None,
        retry_s: float = 0.0,
        sender: TransactionSender | None = None,
    ) -> None:
        self._client = SwarmContract(
            w3=w3,
            address=address,
            account=account,
            retry_s=retry_s,
            contract_name=CONTRACT_NAME,
            sender=sender,
        )
        self.w3 = w3
        self.address = self._client.address
        self.account = account

    @classmethod
    def beside(cls, registry: SwarmContract, address: str) -> PipelineContract:
        """The pipeline contract at `address`, written through `registry`'s key and sender:
        a node sends on both from several threads, and one key must keep one nonce."""
        return cls(
            w3=registry.w3,
            address=address,
            account=registry.account,
            retry_s=registry.retry_s,
            sender=registry.sender,
        )

    def code_matches_artifact(self) -> bool:
        code = bytes(self.w3.eth.get_code(self.address))
        return code.hex() == load_artifact(CONTRACT_NAME)["deployedBytecode"][2:]

    def registry(self) -> str:
        return str(self._read("registry"))

    # ------------------------------------------------------------------ writes

    def _transact(self, function_name: str, *args: Any) -> dict[str, Any]:
        return self._client.transact(function_name, *args)

    def register_worker(self, datasets: list[str]) -> None:
        self._transact("registerWorker", sorted(datasets))

    def deploy_pipeline(
        self,
        *,
        manifest_hash: str,
        name: str,
        tasks: list[tuple[Any, ...]],
        sinks: list[int],
        task_timeout_s: int,
        max_iterations: int,
    ) -> int:
        """Record a pipeline; returns its id (from the PipelineDeployed event)."""
        receipt = self._transact(
            "deployPipeline",
            hex_to_hash(manifest_hash),
            name,
            tasks,
            sum(1 << t for t in sinks),
            task_timeout_s,
            max_iterations,
        )
        events = self._client.contract.events.PipelineDeployed().process_receipt(receipt)
        return int(events[0]["args"]["pipeline"])

    def stop_pipeline(self, pipeline_id: int) -> None:
        self._transact("stopPipeline", pipeline_id)

    def start_iteration(self, pipeline_id: int) -> None:
        self._transact("startIteration", pipeline_id)

    def claim_task(self, pipeline_id: int, iteration: int, task: int) -> None:
        self._transact("claimTask", pipeline_id, iteration, task)

    def submit_result(
        self,
        pipeline_id: int,
        iteration: int,
        task: int,
        *,
        result_hash: str,
        log_hash: str | None,
        decision: Decision,
    ) -> None:
        self._transact(
            "submitResult",
            pipeline_id,
            iteration,
            task,
            hex_to_hash(result_hash),
            hex_to_hash(log_hash or ZERO_HASH),
            decision.as_call(),
        )

    def close_task(self, pipeline_id: int, iteration: int, task: int) -> None:
        self._transact("closeTask", pipeline_id, iteration, task)

    def refuse_result(self, pipeline_id: int, iteration: int, task: int, producer: str) -> None:
        self._transact("refuseResult", pipeline_id, iteration, task, producer)

    def fail_task(self, pipeline_id: int, iteration: int, task: int, log_hash: str | None) -> None:
        self._transact("failTask", pipeline_id, iteration, task, hex_to_hash(log_hash or ZERO_HASH))

    # ------------------------------------------------------------------ reads

    def _read(self, function_name: str, *args: Any) -> Any:
        return self._client._read(function_name, *args)

    def latest_block(self) -> tuple[int, int]:
        """(number, timestamp) of the newest block: one cheap read that tells a watcher
        whether anything can have changed."""
        block = retrying(
            "eth_getBlockByNumber",
            lambda: self.w3.eth.get_block("latest"),
            retry_s=self._client.retry_s,
        )
        return int(block["number"]), int(block["timestamp"])

    def pipeline_count(self) -> int:
        return int(self._read("pipelineCount"))

    def pipeline(self, pipeline_id: int) -> PipelineRecord:
        return pipeline_from_call(pipeline_id, self._read("getPipeline", pipeline_id))

    def pipelines(self) -> list[PipelineRecord]:
        return [self.pipeline(i) for i in range(self.pipeline_count())]

    def task_specs(self, pipeline_id: int) -> list[TaskSpecRecord]:
        return task_specs_from_call(self._read("getTasks", pipeline_id))

    def iteration(self, pipeline_id: int, iteration: int) -> IterationRecord:
        return iteration_from_call(iteration, self._read("getIteration", pipeline_id, iteration))

    def run(self, pipeline_id: int, iteration: int, task: int) -> RunRecord:
        return run_from_call(task, self._read("getRun", pipeline_id, iteration, task))

    def result(self, pipeline_id: int, iteration: int, task: int, node: str) -> ResultRecord:
        checksum = Web3.to_checksum_address(node)
        return result_from_call(
            checksum, self._read("getResult", pipeline_id, iteration, task, checksum)
        )

    def workers(self) -> list[WorkerRecord]:
        return [self.worker(address) for address in self._read("getWorkers")]

    def worker(self, address: str) -> WorkerRecord:
        checksum = Web3.to_checksum_address(address)
        return worker_from_call(checksum, self._read("getWorker", checksum))

    def _events(self, name: str, pipeline_id: int) -> list[Any]:
        event = getattr(self._client.contract.events, name)()
        return retrying(
            "eth_getLogs",
            lambda: event.get_logs(from_block=0, argument_filters={"pipeline": pipeline_id}),
            retry_s=self._client.retry_s,
        )

    def refusals(self, pipeline_id: int) -> list[dict[str, Any]]:
        """Every refused result of a pipeline: who refused whose result, and where."""
        return [
            {
                "iteration": int(entry["args"]["iteration"]),
                "task": int(entry["args"]["task"]),
                "producer": entry["args"]["producer"],
                "refused_by": entry["args"]["refusedBy"],
            }
            for entry in self._events("ResultRefused", pipeline_id)
        ]

    def failures(self, pipeline_id: int) -> list[dict[str, Any]]:
        """Every failed task of a pipeline, with the hash of its log."""
        return [
            {
                "iteration": int(entry["args"]["iteration"]),
                "task": int(entry["args"]["task"]),
                "node": entry["args"]["node"],
                "log_hash": None
                if int.from_bytes(entry["args"]["logHash"], "big") == 0
                else bytes(entry["args"]["logHash"]).hex(),
            }
            for entry in self._events("TaskFailed", pipeline_id)
        ]
