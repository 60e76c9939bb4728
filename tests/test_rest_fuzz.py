"""The REST API against arbitrary input, on a running swarm (sentinel + one SN node, real
processes): a schemathesis run generated from the OpenAPI document (no 5xx, every answer
matches the documented schema), and hypothesis properties for the inputs a caller controls
(the join body, a step number in the path, the `limit` query): any bytes are refused with the
documented JSON error and a 4xx code, or answered as documented."""

from __future__ import annotations

import os
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from rest_client import TIMEOUT, assert_json_error
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from swarm_learning.demo.local_swarm import LocalSwarm

pytest_plugins = ["rest_fixtures"]

#: Examples per operation; bounded so the whole run stays well under a minute here.
FUZZ_EXAMPLES = int(os.environ.get("SWARM_FUZZ_EXAMPLES", "15"))
SLOW_EXAMPLES = min(FUZZ_EXAMPLES, 5)
STREAM_READ_S = 1.0
FUZZ_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=list(HealthCheck)
)


def test_the_api_fuzzed_from_its_openapi_document(swarm: LocalSwarm) -> None:
    """Every operation of `/openapi.json`, with valid and invalid inputs generated from it:
    no answer is a 5xx, and every answer matches its documented status, type and schema.
    (Driven from here rather than by schemathesis' pytest plugin, which does not load under
    this pytest.)"""
    api = schemathesis.openapi.from_url(f"{swarm.sentinel_rest}/openapi.json")
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 8, [op.label for op in operations]
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=examples_for(operation.path),
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def call(case: Any) -> None:
                case.call_and_validate(
                    base_url=swarm.sentinel_rest,
                    timeout=read_timeout(case.operation.path),
                    checks=FUZZ_CHECKS,
                )

            try:
                call()
            except Unsatisfiable:
                # An operation without inputs (GET /v1/health) has no invalid form.
                assert mode is GenerationMode.NEGATIVE, operation.label


def examples_for(path: str) -> int:
    """Fewer examples for the routes that wait by design (up to a long-poll's timeout, or a
    stream's read), so that the run stays short; their inputs are few."""
    return SLOW_EXAMPLES if path in ("/v1/events", "/v1/stream") else FUZZ_EXAMPLES


def read_timeout(path: str) -> float:
    """The event stream never ends: schemathesis reads it for the request's timeout and
    checks the events that came; a short read checks them as well as a long one."""
    return STREAM_READ_S if path == "/v1/stream" else TIMEOUT


def assert_refused_or_documented(response: requests.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/json"), response.headers
    if response.status_code >= 400:
        assert_json_error(response, response.status_code)


@PROPERTY_SETTINGS
@given(body=st.binary(max_size=2048) | st.text(max_size=256).map(str.encode))
def test_any_join_body_is_refused_cleanly(swarm: LocalSwarm, body: bytes) -> None:
    response = requests.post(
        f"{swarm.sentinel_rest}/v1/join",
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=TIMEOUT,
    )
    assert_refused_or_documented(response)
    assert response.status_code in (400, 403, 413), response.text  # never enrolled


@PROPERTY_SETTINGS
@given(step=st.text(min_size=1, max_size=40) | st.integers(-(2**70), 2**70).map(str))
def test_any_step_in_the_path_is_refused_or_answered(swarm: LocalSwarm, step: str) -> None:
    response = requests.get(
        f"{swarm.sentinel_rest}/v1/steps/{requests.utils.quote(step, safe='')}", timeout=TIMEOUT
    )
    if response.status_code == 404 and not response.headers.get("Content-Type", "").startswith(
        "application/json"
    ):
        pytest.fail(f"route not matched for {step!r}: {response.text[:200]}")
    assert_refused_or_documented(response)
    if response.status_code == 200:
        assert response.json()["step"] == int(step)


@PROPERTY_SETTINGS
@given(limit=st.text(max_size=30) | st.integers(-(2**70), 2**70).map(str))
def test_any_limit_is_refused_or_answered(swarm: LocalSwarm, limit: str) -> None:
    response = requests.get(
        f"{swarm.sentinel_rest}/v1/steps", params={"limit": limit}, timeout=TIMEOUT
    )
    assert_refused_or_documented(response)
    if response.status_code == 200:
        assert isinstance(response.json()["steps"], list)
