"""The REST API of a real sentinel and a real SN node, over real HTTP: the read views, bad
input, and the OpenAPI document that describes them. Admission is in
`test_rest_api_admission.py`, the `/rpc` proxy and the chain endpoint in
`test_rest_api_chain.py`; the swarm in `rest_fixtures.py`, the requests in `rest_client.py`.
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
from rest_client import (
    ADDRESS_RE,
    MAX_BODY_BYTES,
    TIMEOUT,
    assert_json_error,
    get,
)

from swarm_learning.demo.local_swarm import LocalSwarm
from swarm_network.defaults import CHAIN_ID
from swarm_network.rest.openapi import OPENAPI


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
    assert doc["chain_id"] == CHAIN_ID
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
        if "{" in path.replace("{step}", "").replace("{address}", ""):
            continue  # a swarm's paths need a deployed swarm: tests/test_pipeline_e2e.py
        url = node_url + path.replace("{step}", "0").replace("{address}", addresses["sn"])
        check_schema(get(url), response_schema(path), path)


def test_every_documented_post_path_exists(node_url: str) -> None:
    for path, item in OPENAPI["paths"].items():
        if "post" in item:
            response = requests.post(f"{node_url}{path}", json={}, timeout=TIMEOUT)
            assert response.status_code not in (404, 405), path
            assert response.status_code < 500, (path, response.text)
