"""The REST API of a real sentinel and a real SN node, over real HTTP.

One swarm (sentinel + one SN node, separate processes on free loopback ports) is shared by the
whole module. Most tests run against both nodes: the SN node serves the same API as the
sentinel, and forwards joins to it. The chain endpoint is also driven directly with plain
web3.py, as any Ethereum client would.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from eth_account import Account
from eth_utils import keccak
from web3 import Web3
from web3.providers.rpc import HTTPProvider

from swarm_learning.demo.local_swarm import LocalSwarm
from swarm_network.admission import sign_join
from swarm_network.chain.client import SwarmContract
from swarm_network.rest.openapi import OPENAPI

TIMEOUT = 30
NODES = ["sentinel", "sn"]
ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
LOG_RECORD_RE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ ")
MAX_BODY_BYTES = 1 << 20
NODE_ENROLLED_TOPIC = "0x" + keccak(text="NodeEnrolled(address,uint8,string,uint64)").hex()


@pytest.fixture(scope="module")
def swarm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSwarm]:
    swarm = LocalSwarm(work_dir=tmp_path_factory.mktemp("rest-swarm"))
    try:
        swarm.start_sentinel()
        swarm.start_sn()
        yield swarm
    finally:
        swarm.stop()


@pytest.fixture(params=NODES)
def node_url(request: pytest.FixtureRequest, swarm: LocalSwarm) -> str:
    url = swarm.sentinel_rest if request.param == "sentinel" else swarm.sn_rest
    assert url is not None
    return url


@pytest.fixture(scope="module")
def addresses(swarm: LocalSwarm) -> dict[str, str]:
    """The sentinel's and the SN node's own addresses, as they report them."""
    return {
        "sentinel": get(f"{swarm.sentinel_rest}/v1/health")["address"],
        "sn": get(f"{swarm.sn_rest}/v1/health")["address"],
    }


@pytest.fixture(scope="module")
def chain_w3(swarm: LocalSwarm) -> Web3:
    assert swarm.sentinel_rpc is not None
    return Web3(HTTPProvider(swarm.sentinel_rpc, request_kwargs={"timeout": TIMEOUT}))


def get(url: str) -> Any:
    response = requests.get(url, timeout=TIMEOUT)
    assert response.status_code == 200, (url, response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/json")
    return response.json()


def assert_json_error(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error", "status"}, body
    assert body["status"] == status
    assert isinstance(body["error"], str) and body["error"].strip()
    return body


def join_body(account: Any, *, role: str = "learner", token: str, file_url: str) -> dict:
    return {
        "address": account.address,
        "role": role,
        "file_url": file_url,
        "signature": sign_join(account, role, file_url),
        "token": token,
    }


def enrolled(url: str) -> dict[str, dict[str, Any]]:
    return {n["address"].lower(): n for n in get(f"{url}/v1/nodes")["nodes"]}


def check_schema(value: Any, schema: dict[str, Any], where: str = "$") -> None:
    """The small subset of OpenAPI 3.0 schemas that `openapi.py` uses, checked strictly:
    every documented property must be present and no undocumented one may appear."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        check_schema(value, OPENAPI["components"]["schemas"][name], where)
        return
    if value is None:
        assert schema.get("nullable"), f"{where} is null but not nullable"
        return
    kind = schema.get("type")
    python_types = {
        "object": dict,
        "array": list,
        "string": str,
        "integer": int,
        "number": (int, float),
        "boolean": bool,
    }
    if kind is not None:
        assert isinstance(value, python_types[kind]), f"{where}: {value!r} is not {kind}"
        if kind == "integer":
            assert not isinstance(value, bool), f"{where}: bool is not an integer"
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} not in {schema['enum']}"
    if "pattern" in schema:
        assert re.search(schema["pattern"], value), f"{where}: {value!r} !~ {schema['pattern']}"
    if "properties" in schema:
        assert set(value) == set(schema["properties"]), (
            f"{where}: fields {sorted(value)} != documented {sorted(schema['properties'])}"
        )
        for key, sub in schema["properties"].items():
            check_schema(value[key], sub, f"{where}.{key}")
    if "additionalProperties" in schema:
        for key, sub in value.items():
            check_schema(sub, schema["additionalProperties"], f"{where}.{key}")
    for key in schema.get("required", []):
        assert key in value, f"{where}: missing required {key}"
    if "items" in schema:
        for i, item in enumerate(value):
            check_schema(item, schema["items"], f"{where}[{i}]")


def response_schema(path: str, method: str = "get") -> dict[str, Any]:
    content = OPENAPI["paths"][path][method]["responses"]["200"]["content"]
    return content["application/json"]["schema"]


# ------------------------------------------------------------------------------ read views


def test_health(node_url: str, swarm: LocalSwarm) -> None:
    doc = get(f"{node_url}/v1/health")
    assert doc["status"] == "ok"
    assert doc["role"] == ("sentinel" if node_url == swarm.sentinel_rest else "sn")
    assert ADDRESS_RE.match(doc["address"])


def test_chain(node_url: str, swarm: LocalSwarm) -> None:
    doc = get(f"{node_url}/v1/chain")
    assert doc["chain_id"] == 1337
    assert ADDRESS_RE.match(doc["contract_address"])
    assert isinstance(doc["block_number"], int) and not isinstance(doc["block_number"], bool)
    assert doc["block_number"] >= 1  # at least the deployment
    assert doc["rpc_url"] == swarm.sentinel_rpc
    assert doc["rpc_proxy_path"] == "/rpc"


def test_both_nodes_agree_on_the_contract(swarm: LocalSwarm) -> None:
    on_sentinel = get(f"{swarm.sentinel_rest}/v1/chain")["contract_address"]
    on_sn = get(f"{swarm.sn_rest}/v1/chain")["contract_address"]
    assert on_sentinel == on_sn


def test_nodes_lists_sentinel_and_sn_as_network_nodes(
    node_url: str, addresses: dict[str, str]
) -> None:
    doc = get(f"{node_url}/v1/nodes")
    check_schema(doc, response_schema("/v1/nodes"))
    assert doc["current_step"] == 0
    by_address = {n["address"]: n for n in doc["nodes"]}
    for name in ("sentinel", "sn"):
        node = by_address[addresses[name]]
        assert node["role"] == "network", name
        assert node["status"] == "online", name
        assert node["file_url"].startswith("http://127.0.0.1:"), name
        assert node["enrolled_at_step"] == 0
        assert node["last_step"] is None
    # the sentinel enrols itself first, in the contract's constructor
    assert doc["nodes"][0]["address"] == addresses["sentinel"]


def test_training_before_any_learner_trains(node_url: str) -> None:
    doc = get(f"{node_url}/v1/training")
    check_schema(doc, response_schema("/v1/training"))
    assert doc["state"] == "not_started"
    assert doc["configured"] is False
    assert doc["current_step"] == 0
    assert doc["checked_in"] == 0
    assert doc["finished_learners"] == 0


def test_steps_field_names_match_openapi(node_url: str) -> None:
    doc = get(f"{node_url}/v1/steps")
    check_schema(doc, response_schema("/v1/steps"))
    assert doc["current_step"] == 0
    assert [s["step"] for s in doc["steps"]] == [0]
    step0 = get(f"{node_url}/v1/steps/0")
    check_schema(step0, response_schema("/v1/steps/{step}"))
    assert set(step0) == set(OPENAPI["components"]["schemas"]["Step"]["properties"])
    assert step0 == doc["steps"][0]
    assert step0["closed"] is False
    assert step0["participants"] == []
    assert step0["agreed_hash"] is None
    assert step0["conflicting_hashes"] == []
    assert isinstance(step0["opened_at"], int) and step0["opened_at"] > 1_600_000_000


@pytest.mark.parametrize("limit", ["1", "100", "100000", "99999999999999999999999"])
def test_steps_limit_is_accepted_and_capped(node_url: str, limit: str) -> None:
    doc = get(f"{node_url}/v1/steps?limit={limit}")
    assert [s["step"] for s in doc["steps"]] == [0]


# ------------------------------------------------------------------------------ bad input

OVERSIZED = b'{"pad": "' + b"x" * (MAX_BODY_BYTES + 1024) + b'"}'


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/v1/steps/99", None, 404),
        ("GET", "/v1/steps/99999999999999999999999999", None, 404),
        ("GET", "/v1/steps/abc", None, 400),
        ("GET", "/v1/steps/-1", None, 400),
        ("GET", "/v1/steps/1.5", None, 400),
        ("GET", "/v1/steps/0x1", None, 400),
        ("GET", "/v1/steps?limit=x", None, 400),
        ("GET", "/v1/steps?limit=0", None, 400),
        ("GET", "/v1/steps?limit=-3", None, 400),
        ("GET", "/v1/steps?limit=", None, 400),
        ("DELETE", "/v1/steps/0", None, 405),
        ("POST", "/v1/steps", b"{}", 405),
        ("PUT", "/v1/nodes", b"{}", 405),
        ("GET", "/v1/join", None, 405),
        ("GET", "/rpc", None, 405),
        ("GET", "/no/such/path", None, 404),
        ("GET", "/v2/health", None, 404),
        ("GET", "/v1/steps/0/extra", None, 404),
        ("POST", "/v1/join", b"not json", 400),
        ("POST", "/v1/join", b"", 400),
        ("POST", "/v1/join", b'{"address": ', 400),
        ("POST", "/v1/join", OVERSIZED, 413),
        ("POST", "/rpc", OVERSIZED, 413),
    ],
    ids=lambda v: v[:40].decode() if isinstance(v, bytes) else str(v),
)
def test_bad_input_gets_a_json_4xx(
    node_url: str, method: str, path: str, body: bytes | None, status: int
) -> None:
    response = requests.request(
        method,
        f"{node_url}{path}",
        data=body,
        headers={"Content-Type": "application/json"} if body is not None else {},
        timeout=TIMEOUT,
    )
    assert_json_error(response, status)


def test_error_messages_say_what_is_wrong(node_url: str) -> None:
    def error(path: str) -> str:
        return requests.get(f"{node_url}{path}", timeout=TIMEOUT).json()["error"]

    assert "99" in error("/v1/steps/99")
    assert "integer" in error("/v1/steps/abc")
    assert "limit" in error("/v1/steps?limit=x")


@pytest.mark.parametrize(
    "body",
    [b"\xff\xfe{}", b"1" * 5000, b'{"a": ' * 100 + b"1" + b"}" * 100],
    ids=["not-utf8", "5000-digit-number", "nested-100"],
)
def test_join_with_undecodable_body_is_400(node_url: str, body: bytes) -> None:
    response = requests.post(
        f"{node_url}/v1/join",
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=TIMEOUT,
    )
    assert_json_error(response, 400)


@pytest.mark.parametrize("body", ["[1, 2]", '"join me"', "42", "true", "null"])
def test_join_with_a_json_non_object_is_400(
    request: pytest.FixtureRequest, node_url: str, swarm: LocalSwarm, body: str
) -> None:
    response = requests.post(
        f"{node_url}/v1/join",
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=TIMEOUT,
    )
    assert "JSON object" in assert_json_error(response, 400)["error"]


def test_deeply_nested_json_does_not_kill_the_node(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """~100 000 nested brackets: py_ecc raises the interpreter's recursion limit to 100 000, so
    without a depth check json.loads overflows the C stack and the process dies (SIGSEGV).
    Its own sentinel, so that a regression cannot take the module's swarm down with it."""
    own = LocalSwarm(work_dir=tmp_path_factory.mktemp("nested-json"))
    try:
        url = own.start_sentinel()
        sentinel = own.processes[0]
        nested = b"[" * 100_000 + b"]" * 100_000
        for target in (f"{url}/v1/join", f"{url}/rpc", own.sentinel_rpc):
            try:
                response = requests.post(
                    target,
                    data=nested,
                    headers={"Content-Type": "application/json"},
                    timeout=TIMEOUT,
                )
            except requests.ConnectionError as exc:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    sentinel.popen.wait(timeout=5)  # let a dying process finish dying
                pytest.fail(f"{target}: {exc}; sentinel exit code {sentinel.popen.returncode}")
            assert sentinel.alive(), target
            if target.endswith("/v1/join"):
                assert_json_error(response, 400)
            else:
                assert response.json()["error"]["code"] == -32700, target
        assert get(f"{url}/v1/health")["status"] == "ok"
    finally:
        own.stop()


# ------------------------------------------------------------------------------ admission


def test_join_with_wrong_token_is_refused_and_not_enrolled(
    node_url: str, swarm: LocalSwarm
) -> None:
    account = Account.create()
    body = join_body(account, token="not-the-token", file_url="http://127.0.0.1:1/")
    response = requests.post(f"{node_url}/v1/join", json=body, timeout=TIMEOUT)
    error = assert_json_error(response, 403)["error"]
    assert "wrong join token" in error
    assert "not-the-token" not in error
    for url in (swarm.sentinel_rest, swarm.sn_rest):
        assert account.address.lower() not in enrolled(url)


@pytest.mark.parametrize("field", ["address", "role", "file_url", "signature", "token"])
def test_join_with_a_missing_field_is_400(node_url: str, swarm: LocalSwarm, field: str) -> None:
    account = Account.create()
    body = join_body(account, token=swarm.join_token, file_url="http://127.0.0.1:1")
    del body[field]
    response = requests.post(f"{node_url}/v1/join", json=body, timeout=TIMEOUT)
    assert field in assert_json_error(response, 400)["error"]
    assert account.address.lower() not in enrolled(node_url)


def test_join_with_someone_elses_signature_is_refused(node_url: str, swarm: LocalSwarm) -> None:
    victim, attacker = Account.create(), Account.create()
    file_url = "http://127.0.0.1:2"
    body = join_body(victim, token=swarm.join_token, file_url=file_url)
    body["signature"] = sign_join(attacker, "learner", file_url)
    response = requests.post(f"{node_url}/v1/join", json=body, timeout=TIMEOUT)
    assert "signature" in assert_json_error(response, 403)["error"]
    nodes = enrolled(node_url)
    assert victim.address.lower() not in nodes
    assert attacker.address.lower() not in nodes


def test_join_signature_binds_the_file_url(node_url: str, swarm: LocalSwarm) -> None:
    account = Account.create()
    body = join_body(account, token=swarm.join_token, file_url="http://127.0.0.1:3")
    body["file_url"] = "http://evil.example:3"
    response = requests.post(f"{node_url}/v1/join", json=body, timeout=TIMEOUT)
    assert_json_error(response, 403)
    assert account.address.lower() not in enrolled(node_url)


def test_join_with_an_unparseable_signature_is_400(node_url: str, swarm: LocalSwarm) -> None:
    account = Account.create()
    body = join_body(account, token=swarm.join_token, file_url="http://127.0.0.1:4")
    body["signature"] = "not-hex"
    response = requests.post(f"{node_url}/v1/join", json=body, timeout=TIMEOUT)
    assert "signature" in assert_json_error(response, 400)["error"]


@pytest.mark.parametrize(
    "signature", ["0x1234", "0x" + "00" * 65, "0x" + "ff" * 65], ids=["short", "zeros", "ff"]
)
def test_join_with_an_invalid_signature_is_4xx_not_500(
    node_url: str, swarm: LocalSwarm, signature: str
) -> None:
    account = Account.create()
    body = join_body(account, token=swarm.join_token, file_url="http://127.0.0.1:5")
    body["signature"] = signature
    response = requests.post(f"{node_url}/v1/join", json=body, timeout=TIMEOUT)
    assert response.status_code in (400, 403), (response.status_code, response.text)
    assert_json_error(response, response.status_code)


def test_join_through_sn_enrols_funds_and_rejoins(
    swarm: LocalSwarm, chain_w3: Web3, addresses: dict[str, str]
) -> None:
    account = Account.create()
    file_url = "http://127.0.0.1:45678"
    assert chain_w3.eth.get_balance(account.address) == 0
    body = join_body(account, token=swarm.join_token, file_url=file_url)

    response = requests.post(f"{swarm.sn_rest}/v1/join", json=body, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    joined = response.json()
    assert joined["address"] == account.address
    assert joined["enrolled"] is True
    assert joined["rejoined"] is False
    assert joined["chain_id"] == 1337
    assert joined["contract_address"] == get(f"{swarm.sentinel_rest}/v1/chain")["contract_address"]

    for url in (swarm.sentinel_rest, swarm.sn_rest):
        node = enrolled(url)[account.address.lower()]
        assert node["address"] == account.address
        assert node["role"] == "learner"
        assert node["status"] == "joined"
        assert node["file_url"] == file_url
        assert node["last_step"] is None
        training = get(f"{url}/v1/training")
        assert training["learners"] >= 1
        assert account.address in training["waiting_for"]

    balance = chain_w3.eth.get_balance(account.address)
    assert balance > 0

    # The same key again (a restarted learner): accepted, not enrolled or funded twice.
    again = requests.post(f"{swarm.sn_rest}/v1/join", json=body, timeout=TIMEOUT)
    assert again.status_code == 200, again.text
    assert again.json()["rejoined"] is True
    assert again.json()["enrolled"] is False
    direct = requests.post(f"{swarm.sentinel_rest}/v1/join", json=body, timeout=TIMEOUT)
    assert direct.status_code == 200 and direct.json()["rejoined"] is True
    assert chain_w3.eth.get_balance(account.address) == balance
    listed = [n["address"] for n in get(f"{swarm.sn_rest}/v1/nodes")["nodes"]]
    assert listed.count(account.address) == 1

    # ...but not under another role.
    as_network = join_body(account, role="network", token=swarm.join_token, file_url=file_url)
    response = requests.post(f"{swarm.sn_rest}/v1/join", json=as_network, timeout=TIMEOUT)
    assert "already enrolled" in assert_json_error(response, 403)["error"]
    assert enrolled(swarm.sentinel_rest)[account.address.lower()]["role"] == "learner"


def test_join_token_is_not_in_any_log_record(swarm: LocalSwarm) -> None:
    """No log line (of any node) carries the token, even after refused and accepted joins."""
    requests.post(
        f"{swarm.sn_rest}/v1/join",
        json=join_body(Account.create(), token="wrong-token-xyz", file_url="http://127.0.0.1:6"),
        timeout=TIMEOUT,
    )
    for process in swarm.processes:
        records = [
            line
            for line in process.log_path.read_text(errors="replace").splitlines()
            if LOG_RECORD_RE.match(line)
        ]
        assert records, process.name
        for line in records:
            assert swarm.join_token not in line, (process.name, line)
            assert "wrong-token-xyz" not in line, (process.name, line)


def test_join_token_is_not_in_the_sentinel_log_file(swarm: LocalSwarm) -> None:
    log_text = swarm.processes[0].log_path.read_text(errors="replace")
    assert "enrolled" in log_text  # the SN node's join is logged...
    assert swarm.join_token not in log_text  # ...but the token must not be


# ------------------------------------------------------------------------------ OpenAPI


def test_openapi_is_a_valid_openapi_3_document(node_url: str) -> None:
    doc = get(f"{node_url}/openapi.json")
    assert doc == json.loads(json.dumps(OPENAPI))
    try:
        from openapi_spec_validator import validate  # type: ignore[import-not-found]
    except ImportError:
        validate = None
    if validate is not None:
        validate(doc)

    assert re.match(r"^3\.\d+\.\d+$", doc["openapi"])
    assert isinstance(doc["info"]["title"], str) and doc["info"]["title"]
    assert isinstance(doc["info"]["version"], str) and doc["info"]["version"]
    schemas = doc["components"]["schemas"]

    def refs(value: Any) -> Iterator[str]:
        if isinstance(value, dict):
            for key, sub in value.items():
                if key == "$ref":
                    yield sub
                else:
                    yield from refs(sub)
        elif isinstance(value, list):
            for sub in value:
                yield from refs(sub)

    for ref in refs(doc):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.rsplit("/", 1)[1] in schemas, ref

    methods = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
    for path, item in doc["paths"].items():
        assert path.startswith("/"), path
        assert item and set(item) <= methods, (path, item)
        templated = set(re.findall(r"{([^}]+)}", path))
        for method, operation in item.items():
            responses = operation["responses"]
            assert responses and all(
                code == "default" or re.match(r"^[1-5]\d\d$", code) for code in responses
            ), (path, method)
            for response in responses.values():
                assert isinstance(response["description"], str), (path, method)
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == templated, (path, method)
            for param in operation.get("parameters", []):
                assert param["in"] in {"query", "header", "path", "cookie"}
                if param["in"] == "path":
                    assert param.get("required") is True, (path, param)


def test_every_documented_get_path_answers_with_its_schema(
    node_url: str, addresses: dict[str, str]
) -> None:
    paths = [p for p, item in OPENAPI["paths"].items() if "get" in item]
    assert {"/v1/health", "/v1/chain", "/v1/nodes", "/v1/training", "/v1/steps"} <= set(paths)
    for path in paths:
        content = OPENAPI["paths"][path]["get"]["responses"]["200"]["content"]
        if "application/json" not in content:  # the dashboard page, the event stream
            continue
        url = node_url + path.replace("{step}", "0").replace("{address}", addresses["sn"])
        check_schema(get(url), response_schema(path), path)


def test_every_documented_post_path_exists(node_url: str) -> None:
    for path, item in OPENAPI["paths"].items():
        if "post" in item:
            response = requests.post(f"{node_url}{path}", json={}, timeout=TIMEOUT)
            assert response.status_code not in (404, 405), path
            assert response.status_code < 500, (path, response.text)


# ------------------------------------------------------------------------------ /rpc proxy


def test_rpc_proxy_serves_web3(node_url: str, chain_w3: Web3) -> None:
    w3 = Web3(HTTPProvider(f"{node_url}/rpc", request_kwargs={"timeout": TIMEOUT}))
    assert w3.eth.chain_id == 1337
    proxied = w3.eth.block_number
    assert proxied >= 1
    assert proxied == chain_w3.eth.block_number
    contract = get(f"{node_url}/v1/chain")["contract_address"]
    assert len(w3.eth.get_code(contract)) > 0
    config = SwarmContract(w3=w3, address=contract).training_config()
    assert config.configured is False


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"this is not json", -32700),
        (b'{"jsonrpc": "2.0", "id": 1, "method": ', -32700),
        (b"\xff\xfe", -32700),
        (b'{"foo": 1}', -32600),
        (b'{"jsonrpc": "2.0", "id": 7, "method": "eth_noSuchMethod", "params": []}', -32601),
    ],
    ids=["garbage", "truncated", "not-utf8", "not-a-request", "unknown-method"],
)
def test_rpc_proxy_answers_malformed_json_rpc_with_an_error_object(
    node_url: str, body: bytes, code: int
) -> None:
    response = requests.post(
        f"{node_url}/rpc",
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=TIMEOUT,
    )
    assert response.status_code < 500, response.text
    answer = response.json()
    assert answer["jsonrpc"] == "2.0"
    assert "result" not in answer
    assert answer["error"]["code"] == code
    assert isinstance(answer["error"]["message"], str)
    if code == -32601:
        assert answer["id"] == 7


def test_rpc_proxy_passes_batches_through(node_url: str) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
        {"jsonrpc": "2.0", "id": 2, "method": "eth_blockNumber", "params": []},
    ]
    response = requests.post(f"{node_url}/rpc", json=batch, timeout=TIMEOUT)
    assert response.status_code == 200
    answers = {a["id"]: a for a in response.json()}
    assert answers[1]["result"] == "0x539"
    assert int(answers[2]["result"], 16) >= 1


# ------------------------------------------------------------------------------ chain endpoint


def raw_rpc(url: str, method: str, *params: Any) -> Any:
    response = requests.post(
        url,
        json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert "error" not in answer, answer
    return answer["result"]


def test_chain_latest_block(chain_w3: Web3) -> None:
    block = chain_w3.eth.get_block("latest")
    assert block["number"] >= 1
    assert len(block["hash"]) == 32
    parent = chain_w3.eth.get_block(block["number"] - 1)
    assert block["parentHash"] == parent["hash"]


def test_chain_deployment_receipt_in_raw_camel_case(
    swarm: LocalSwarm, addresses: dict[str, str]
) -> None:
    url = swarm.sentinel_rpc
    assert url is not None
    contract = get(f"{swarm.sentinel_rest}/v1/chain")["contract_address"]
    block = raw_rpc(url, "eth_getBlockByNumber", "0x1", False)
    assert block["number"] == "0x1"
    assert {"hash", "parentHash", "stateRoot", "gasUsed", "timestamp", "transactions"} <= set(block)
    assert len(block["transactions"]) == 1
    tx_hash = block["transactions"][0]

    tx = raw_rpc(url, "eth_getTransactionByHash", tx_hash)
    assert tx["hash"] == tx_hash
    assert tx["from"].lower() == addresses["sentinel"].lower()
    assert tx["to"] is None
    assert tx["blockNumber"] == "0x1"

    receipt = raw_rpc(url, "eth_getTransactionReceipt", tx_hash)
    for key in (
        "transactionHash",
        "transactionIndex",
        "blockHash",
        "blockNumber",
        "contractAddress",
        "gasUsed",
        "cumulativeGasUsed",
        "status",
        "logs",
        "from",
    ):
        assert key in receipt, key
    assert not [k for k in receipt if "_" in k], receipt.keys()
    assert receipt["transactionHash"] == tx_hash
    assert receipt["blockNumber"] == "0x1"
    assert receipt["blockHash"] == block["hash"]
    assert receipt["status"] == "0x1"
    assert receipt["contractAddress"].lower() == contract.lower()
    assert re.match(r"^0x[0-9a-f]+$", receipt["gasUsed"])
    assert int(receipt["gasUsed"], 16) > 21_000
    # the constructor enrols the sentinel: one NodeEnrolled log
    assert [log["topics"][0] for log in receipt["logs"]] == [NODE_ENROLLED_TOPIC]
    assert receipt["logs"][0]["address"].lower() == contract.lower()
    assert not [k for log in receipt["logs"] for k in log if "_" in k]


def test_chain_eth_call_reads_the_contract(swarm: LocalSwarm, chain_w3: Web3) -> None:
    contract = SwarmContract(
        w3=chain_w3, address=get(f"{swarm.sentinel_rest}/v1/chain")["contract_address"]
    )
    assert contract.code_matches_artifact()
    config = contract.training_config()
    assert config.configured is False
    assert config.min_peers == 0
    assert contract.current_step() == 0
    assert int(contract.contract.functions.minPeers().call()) == config.min_peers


def test_chain_get_logs_finds_node_enrolled_events(
    swarm: LocalSwarm, chain_w3: Web3, addresses: dict[str, str]
) -> None:
    contract = SwarmContract(
        w3=chain_w3, address=get(f"{swarm.sentinel_rest}/v1/chain")["contract_address"]
    )
    logs = chain_w3.eth.get_logs(
        {
            "fromBlock": 0,
            "toBlock": "latest",
            "address": contract.address,
            "topics": [NODE_ENROLLED_TOPIC],
        }
    )
    events = [contract.contract.events.NodeEnrolled().process_log(log) for log in logs]
    by_node = {e["args"]["node"]: e["args"] for e in events}
    for name in ("sentinel", "sn"):
        assert by_node[addresses[name]]["role"] == 1, name  # network
        assert by_node[addresses[name]]["atStep"] == 0
    # exactly the enrolled nodes, each once
    assert len(by_node) == len(events)
    assert set(by_node) == {n["address"] for n in get(f"{swarm.sentinel_rest}/v1/nodes")["nodes"]}

    # the indexed node topic filters too (raw eth_getLogs)
    sn_topic = "0x" + "00" * 12 + addresses["sn"].lower()[2:]
    raw = raw_rpc(
        swarm.sentinel_rpc or "",
        "eth_getLogs",
        {"fromBlock": "0x0", "toBlock": "latest", "topics": [NODE_ENROLLED_TOPIC, sn_topic]},
    )
    assert len(raw) == 1
    assert raw[0]["topics"][1] == sn_topic
    assert {"blockNumber", "transactionHash", "logIndex", "data", "address"} <= set(raw[0])
