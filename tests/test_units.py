"""Pure unit tests: the REST views, learner settings, join-request parsing, the status table.

No processes, no network: hand-made records in, plain values out.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from swarm_learning.settings import LearnerSettings
from swarm_network.admission import JoinRequest
from swarm_network.chain.records import NodeRecord, StepRecord, SwarmSummary, TrainingConfig
from swarm_network.errors import ConfigError, InvalidRequest
from swarm_network.rest import views
from swarm_network.text_table import table

ALICE = "0x" + "a1" * 20
BOB = "0x" + "b2" * 20
CAROL = "0x" + "c3" * 20


def learner(
    address: str = ALICE,
    *,
    enrolled_at_step: int = 0,
    last_step: int | None = None,
    finished: bool = False,
    role: str = "learner",
) -> NodeRecord:
    return NodeRecord(
        address=address,
        role=role,
        file_url="http://127.0.0.1:30305",
        enrolled_at_step=enrolled_at_step,
        last_step=last_step,
        finished=finished,
    )


# ---------------------------------------------------------------------------- learner_status


@pytest.mark.parametrize(
    ("node", "current_step", "checked_in", "expected"),
    [
        # finished wins over everything else, even a check-in for the open step
        (learner(last_step=4, finished=True), 5, {ALICE}, "finished"),
        (learner(last_step=1, finished=True), 9, set(), "finished"),
        # checked in for the open step
        (learner(last_step=5), 5, {ALICE}, "waiting"),
        (learner(last_step=None), 0, {ALICE}, "waiting"),
        # took part in the previous step, training towards the open one
        (learner(last_step=4), 5, set(), "active"),
        (learner(last_step=4), 5, {BOB}, "active"),
        # enrolled, never checked in, the swarm still counts on it
        (learner(enrolled_at_step=0), 0, set(), "joined"),
        (learner(enrolled_at_step=3), 3, set(), "joined"),
        (learner(enrolled_at_step=3), 4, set(), "joined"),
        # missed at least one whole step
        (learner(enrolled_at_step=3), 5, set(), "dropped"),
        (learner(last_step=3), 5, set(), "dropped"),
        (learner(last_step=0), 7, {BOB}, "dropped"),
    ],
)
def test_learner_status(
    node: NodeRecord, current_step: int, checked_in: set[str], expected: str
) -> None:
    assert views.learner_status(node, current_step, checked_in) == expected


def test_node_json_network_nodes_are_online_and_learners_get_their_status() -> None:
    network = learner(BOB, role="network")
    assert views.node_json(network, 7, set())["status"] == "online"
    doc = views.node_json(learner(ALICE, last_step=6), 7, set())
    assert doc == {
        "address": ALICE,
        "role": "learner",
        "file_url": "http://127.0.0.1:30305",
        "enrolled_at_step": 0,
        "last_step": 6,
        "status": "active",
    }


# ---------------------------------------------------------------------------- training_state


def step_record(step: int = 0, participants: tuple[str, ...] = ()) -> StepRecord:
    return StepRecord(
        step=step,
        closed=False,
        opened_at=1_700_000_000,
        quorum_at=None,
        closed_at=None,
        agreed_hash=None,
        participants=participants,
    )


def summary(
    *,
    configured: bool = True,
    min_peers: int = 2,
    learners: int = 3,
    finished: int = 0,
    quorum: int = 2,
    participants: tuple[str, ...] = (),
    current_step: int = 0,
    ended: bool = False,
) -> SwarmSummary:
    return SwarmSummary(
        block_number=42,
        current_step=current_step,
        learner_count=learners,
        finished_count=finished,
        effective_quorum=quorum,
        live_learners=learners - finished,
        open_step=step_record(current_step, participants),
        config=TrainingConfig(
            configured=configured,
            min_peers=min_peers if configured else 0,
            grace_seconds=10 if configured else 0,
            max_staleness=2 if configured else 0,
            merge_method="mean" if configured else "",
            merge_params="{}" if configured else "",
        ),
        training_ended=ended,
    )


@pytest.mark.parametrize(
    ("snapshot", "expected"),
    [
        (summary(configured=False, learners=0), "not_started"),
        # learners enrolled but nobody configured the training yet
        (summary(configured=False, learners=2), "not_started"),
        (summary(learners=3, finished=3), "done"),
        (summary(learners=1, finished=1, quorum=1), "done"),
        (summary(participants=(ALICE,), quorum=2), "waiting_for_quorum"),
        (summary(participants=(ALICE, BOB), quorum=3, learners=3), "waiting_for_quorum"),
        # nobody checked in for the open step yet: they are all training towards it
        (summary(participants=()), "training"),
        # quorum met, step about to close
        (summary(participants=(ALICE, BOB), quorum=2), "training"),
        # some finished, the others are still at it
        (summary(learners=3, finished=1, participants=()), "training"),
        # ended on chain, though a learner that died never finished
        (summary(learners=3, finished=2, participants=(), ended=True), "done"),
    ],
)
def test_training_state(snapshot: SwarmSummary, expected: str) -> None:
    assert views.training_state(snapshot) == expected


def test_training_json_lists_the_live_learners_not_yet_checked_in() -> None:
    snapshot = summary(participants=(ALICE,), quorum=2, current_step=4, learners=3)
    nodes = [
        learner(ALICE, last_step=4),  # waiting
        learner(BOB, last_step=3),  # active, not checked in yet
        learner(CAROL, last_step=1),  # dropped: the swarm does not wait for it
        learner("0x" + "d4" * 20, role="network"),
    ]
    doc = views.training_json(snapshot, nodes)
    assert doc["state"] == "waiting_for_quorum"
    assert doc["waiting_for"] == [BOB]
    assert doc["checked_in"] == 1
    assert doc["current_step"] == 4
    assert doc["block_number"] == 42


# ---------------------------------------------------------------------------- LearnerSettings


def test_settings_defaults_with_an_empty_environment() -> None:
    s = LearnerSettings.resolve({}, environ={})
    assert s.sync_frequency == 32
    assert s.min_peers == 2
    assert s.merge_method == "mean"
    assert s.model_dir == s.node_dir / "model"
    assert s.data_dir == s.node_dir / "data"


def test_settings_accept_hpe_camel_case() -> None:
    s = LearnerSettings.resolve(
        {
            "syncFrequency": 4,
            "minPeers": 3,
            "nodeWeightage": 5,
            "totalEpochs": 7,
            "mergeMethod": "COORDMEDIAN",
            "useAdaptiveSync": False,
        },
        environ={},
    )
    assert (s.sync_frequency, s.min_peers, s.node_weightage, s.total_epochs) == (4, 3, 5, 7)
    assert s.merge_method == "coordmedian"


def test_settings_read_the_swarm_environment(tmp_path: Path) -> None:
    environ = {
        "SWARM_SN_URL": "http://10.0.0.5:30304/",
        "SWARM_JOIN_TOKEN": "secret",
        "SWARM_NODE_DIR": str(tmp_path / "node"),
        "SWARM_FILE_HOST": "0.0.0.0",
        "SWARM_FILE_PORT": "31305",
        "SWARM_ADVERTISE_HOST": "site-a.example",
        "SWARM_PROGRAM_NAME": "train",
        "SWARM_GRACE_SECONDS": "3",
        "SWARM_PEER_TIMEOUT": "2.5",
        "SWARM_QUORUM_TIMEOUT": "9",
        "SWARM_FINAL_TIMEOUT": "60",
    }
    s = LearnerSettings.resolve({}, environ=environ)
    assert s.sn_url == "http://10.0.0.5:30304"
    assert s.join_token == "secret"
    assert s.node_dir == tmp_path / "node"
    assert s.model_dir == tmp_path / "node" / "model"
    assert s.file_port == 31305
    assert s.grace_seconds == 3
    assert s.peer_timeout_s == 2.5
    assert s.quorum_timeout_s == 9.0
    assert s.final_timeout_s == 60.0
    assert s.program_name == "train"
    assert s.advertise_host == "site-a.example"


def test_settings_keyword_arguments_win_over_the_environment() -> None:
    s = LearnerSettings.resolve(
        {"file_port": 0, "grace_seconds": 1},
        environ={"SWARM_FILE_PORT": "31305", "SWARM_GRACE_SECONDS": "30", "SWARM_DEVICE": ""},
    )
    assert s.file_port == 0
    assert s.grace_seconds == 1
    assert s.device == "cpu"  # an empty variable counts as unset


@pytest.mark.parametrize(
    ("overrides", "environ", "message"),
    [
        ({"syncFreq": 2}, {}, "unknown setting"),
        ({"min_peer": 2, "colour": "red"}, {}, "colour"),
        ({"min_peers": 2, "minPeers": 3}, {}, "twice"),
        ({"sync_frequency": 2, "syncFrequency": 2}, {}, "twice"),
        ({"sync_frequency": "often"}, {}, "sync_frequency"),
        ({"min_peers": None}, {}, "min_peers"),
        ({}, {"SWARM_FILE_PORT": "http"}, "file_port"),
        ({}, {"SWARM_GRACE_SECONDS": "1.5"}, "grace_seconds"),
        ({"sync_frequency": 0}, {}, "sync_frequency"),
        ({"syncFrequency": -1}, {}, "sync_frequency"),
        ({"min_peers": 0}, {}, "min_peers"),
        ({"node_weightage": 0}, {}, "node_weightage"),
        ({"grace_seconds": -1}, {}, "grace_seconds"),
    ],
)
def test_settings_reject_bad_values(
    overrides: dict[str, object], environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        LearnerSettings.resolve(overrides, environ=environ)


def test_settings_reject_a_fractional_sync_frequency() -> None:
    with pytest.raises(ConfigError, match="sync_frequency"):
        LearnerSettings.resolve({"sync_frequency": 2.5}, environ={})


@pytest.mark.parametrize("env_name", ["SWARM_PEER_TIMEOUT", "SWARM_QUORUM_TIMEOUT"])
def test_settings_reject_a_malformed_timeout_with_config_error(env_name: str) -> None:
    with pytest.raises(ConfigError):
        LearnerSettings.resolve({}, environ={env_name: "soon"})


# ---------------------------------------------------------------------------- JoinRequest

GOOD_JOIN = {
    "address": ALICE,
    "role": "learner",
    "file_url": "http://127.0.0.1:30305",
    "signature": "0x" + "ab" * 65,
    "token": "t0ken",
}


def test_join_request_from_json_accepts_a_good_request() -> None:
    request = JoinRequest.from_json(dict(GOOD_JOIN))
    assert request == JoinRequest(**GOOD_JOIN)
    assert JoinRequest.from_json({**GOOD_JOIN, "role": "network"}).role == "network"
    assert JoinRequest.from_json({**GOOD_JOIN, "file_url": "https://a.example/x"}).file_url


@pytest.mark.parametrize("body", [None, [], [GOOD_JOIN], "join", 3, 1.5, True])
def test_join_request_rejects_non_objects(body: object) -> None:
    with pytest.raises(InvalidRequest, match="JSON object"):
        JoinRequest.from_json(body)


@pytest.mark.parametrize("field", sorted(GOOD_JOIN))
def test_join_request_rejects_a_missing_field(field: str) -> None:
    body = {k: v for k, v in GOOD_JOIN.items() if k != field}
    with pytest.raises(InvalidRequest, match=field):
        JoinRequest.from_json(body)


@pytest.mark.parametrize("field", sorted(GOOD_JOIN))
@pytest.mark.parametrize("value", ["", None, 7, ["x"], {"x": 1}])
def test_join_request_rejects_an_empty_or_non_string_field(field: str, value: object) -> None:
    with pytest.raises(InvalidRequest, match=field):
        JoinRequest.from_json({**GOOD_JOIN, field: value})


@pytest.mark.parametrize(
    "address",
    [
        "a1" * 20,  # no 0x
        "0x" + "a1" * 19,  # 19 bytes
        "0x" + "a1" * 21,  # 21 bytes
        "0x" + "g1" * 20,  # not hex
        " 0x" + "a1" * 20,
        "0X" + "a1" * 20,
    ],
)
def test_join_request_rejects_a_bad_address(address: str) -> None:
    with pytest.raises(InvalidRequest, match="address"):
        JoinRequest.from_json({**GOOD_JOIN, "address": address})


def test_join_request_rejects_an_address_with_a_trailing_newline() -> None:
    with pytest.raises(InvalidRequest, match="address"):
        JoinRequest.from_json({**GOOD_JOIN, "address": ALICE + "\n"})


@pytest.mark.parametrize("role", ["admin", "sentinel", "Learner", "none", "sn"])
def test_join_request_rejects_an_unknown_role(role: str) -> None:
    with pytest.raises(InvalidRequest, match="role"):
        JoinRequest.from_json({**GOOD_JOIN, "role": role})


@pytest.mark.parametrize(
    "file_url",
    [
        "ftp://127.0.0.1:30305",
        "127.0.0.1:30305",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "http://" + "a" * 600,
    ],
)
def test_join_request_rejects_a_non_http_or_overlong_file_url(file_url: str) -> None:
    with pytest.raises(InvalidRequest, match="file_url"):
        JoinRequest.from_json({**GOOD_JOIN, "file_url": file_url})


# ---------------------------------------------------------------------------- status table


def test_table_aligns_columns() -> None:
    text = table(
        ["address", "role", "n"],
        [["0xabc", "network", None], ["0x1", "learner", 12345]],
    )
    lines = text.splitlines()
    assert lines[0].split() == ["address", "role", "n"]
    assert set(lines[1]) == {"─"}  # rich's rule under the header
    assert lines[2].split() == ["0xabc", "network", "-"]
    assert lines[3].split() == ["0x1", "learner", "12345"]
    for column in ("role", "n"):
        offset = lines[0].index(column)
        assert lines[2][offset - 1] == lines[3][offset - 1] == " "
        assert lines[2][offset] != " " and lines[3][offset] != " "


def test_table_columns_start_at_the_same_offset_on_every_line() -> None:
    rows = [["a" * 42, "learner", "joined"], ["b", "network", "online"], ["c" * 3, "x", None]]
    lines = table(["address", "role", "status"], rows).splitlines()
    header = lines[0]
    offsets = [header.index("role"), header.index("status")]
    assert offsets[0] > 42 and offsets[1] > offsets[0] + len("learner")
    for line, row in zip(lines[2:], rows, strict=True):
        assert line[offsets[0] :].startswith(row[1])
        assert line[offsets[1] :].startswith(row[2] or "-")


def test_table_cells_are_text_not_markup_and_never_wrap() -> None:
    long = "http://127.0.0.1:30305/" + "x" * 150
    lines = table(["refused", "url"], [["[0xabc, bad hash]", long]]).splitlines()
    assert "[0xabc, bad hash]" in lines[2] and long in lines[2]
    assert len(lines) == 3


def test_table_with_no_rows_is_header_and_rule() -> None:
    lines = table(["step", "closed"], []).splitlines()
    assert len(lines) == 2 and lines[0].split() == ["step", "closed"]
    assert set(lines[1]) == {"─"}


def test_step_json_names_who_refused_whom() -> None:
    from swarm_network.chain.records import Contribution, StepRecord
    from swarm_network.rest.views import step_json

    a, b, c = ALICE, "0x" + "b" * 40, "0x" + "c" * 40
    merged = "1" * 64
    contributions = [
        Contribution(a, "a" * 64, "0" * 64, 1, merged, rejected_mask=0b100),
        Contribution(b, "b" * 64, "0" * 64, 1, merged, rejected_mask=0b100),
        Contribution(c, "c" * 64, "0" * 64, 1, "2" * 64, staleness=1),
    ]
    step = StepRecord(0, True, 1, 2, 3, merged, (a, b, c))
    doc = step_json(step, contributions)
    by_address = {p["address"]: p for p in doc["participants"]}
    assert by_address[c]["rejected_by"] == [a, b]
    assert by_address[a]["rejected_by"] == []
    assert by_address[c]["staleness"] == 1
    assert doc["conflicting_hashes"] == ["2" * 64]
