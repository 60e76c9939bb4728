"""The sentinel is SIGKILLed mid-training and started again with the same data dir: the chain
comes back with the same blocks, nodes reconnect by themselves and the training finishes."""

from __future__ import annotations

import json
import time

import requests
from web3 import Web3

from swarm_learning.demo.digits_swarm import TRAIN_MODULE, prepare_learner_data
from swarm_learning.demo.local_swarm import LocalSwarm
from swarm_network.chain import connect

LEARNERS = ["learner1", "learner2", "learner3"]
EPOCHS = 20  # about 10 sync steps


def _block_hashes(w3: Web3, upto: int) -> list[str]:
    return [w3.eth.get_block(n)["hash"].hex() for n in range(upto + 1)]


def test_training_survives_a_sentinel_crash(tmp_path) -> None:
    swarm = LocalSwarm(work_dir=tmp_path)
    try:
        prepare_learner_data(swarm, LEARNERS, seed=0)
        swarm.start_sentinel()
        sn_url = swarm.start_sn()
        args = ["--epochs", str(EPOCHS), "--min-peers", "2"]
        learners = [swarm.start_learner(name, sn_url, TRAIN_MODULE, args) for name in LEARNERS]

        deadline = time.monotonic() + 120
        while requests.get(f"{sn_url}/v1/training", timeout=10).json()["current_step"] < 3:
            assert time.monotonic() < deadline, "training did not reach step 3"
            assert all(p.alive() for p in learners)
            time.sleep(0.2)
        assert swarm.sentinel_rpc is not None and swarm.sentinel is not None
        w3 = connect(swarm.sentinel_rpc)
        head = w3.eth.block_number
        before = _block_hashes(w3, head)

        swarm.sentinel.kill()  # SIGKILL, mid-training
        time.sleep(2)
        swarm.start_sentinel()
        assert _block_hashes(w3, head) == before  # the same chain, not a new one
        killed_at_step = requests.get(f"{sn_url}/v1/training", timeout=10).json()["current_step"]

        assert swarm.wait(learners, 300), "learners did not finish after the restart"
        for learner in learners:
            assert learner.popen.returncode == 0, learner.log_tail()
        results = [
            json.loads((swarm.learner_dir(n) / "model" / "result.json").read_text())
            for n in LEARNERS
        ]
        assert len({r["final_model_hash"] for r in results}) == 1
        training = requests.get(f"{sn_url}/v1/training", timeout=10).json()
        assert training["state"] == "done"
        assert training["current_step"] > killed_at_step  # steps went on after the restart
        last = requests.get(f"{sn_url}/v1/steps/{training['current_step'] - 1}", timeout=10).json()
        assert last["agreed_hash"] == results[0]["final_model_hash"]
    finally:
        swarm.stop()
