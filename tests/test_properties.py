"""Property-based tests (hypothesis) of what untrusted bytes reach: a peer's weight file and a
JSON-RPC caller's parameters. Whatever the input, it is refused with the project's own error
(InvalidWeights, RpcError) or accepted with the value it stands for; never another exception.
The REST inputs have their own properties, against a running swarm (`test_rest_fuzz.py`)."""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentinel.chain.rpc_format import RpcError
from sentinel.chain.rpc_params import (
    MAX_UINT256,
    parse_block_id,
    parse_call_request,
    parse_data,
    parse_log_filter,
    parse_quantity,
    parse_reward_percentiles,
    unpack_params,
)
from swarm_learning.weight_file import check_weight_file, fill_row, iter_weight_parts
from swarm_learning.weights import WeightSchema, decode_weights, encode_weights, validate
from swarm_network.errors import InvalidWeights

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

MODEL = {
    "layer.weight": np.arange(6, dtype=np.float32).reshape(2, 3),
    "layer.bias": np.array([0.5, -1.5], dtype=np.float32),
    "steps": np.array(7, dtype=np.int64),
}
SCHEMA = WeightSchema.from_arrays(MODEL)
GOOD_FILE = encode_weights(MODEL)

# --------------------------------------------------------------------------------- weight files


@st.composite
def tampered_files(draw: st.DrawFn) -> bytes:
    """A valid weight file with some of its bytes changed, cut short, or grown."""
    data = bytearray(GOOD_FILE)
    for _ in range(draw(st.integers(0, 4))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    edit = draw(st.sampled_from(["none", "truncate", "append", "header_length"]))
    if edit == "truncate":
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif edit == "append":
        data += draw(st.binary(min_size=1, max_size=64))
    elif edit == "header_length":
        data[:8] = struct.pack("<Q", draw(st.integers(0, 2**64 - 1)))
    return bytes(data)


@st.composite
def other_models(draw: st.DrawFn) -> bytes:
    """A well-formed weight file whose tensors may differ from the model in name, dtype,
    shape or values (NaN and Inf included)."""
    arrays = {}
    for name, array in MODEL.items():
        if draw(st.booleans()):
            continue  # drop it
        dtype = draw(st.sampled_from([array.dtype, np.dtype(np.float64), np.dtype(np.int32)]))
        shape = draw(st.sampled_from([array.shape, (1,), (3, 2)]))
        size = int(np.prod(shape))
        values = draw(
            st.lists(
                st.floats(allow_nan=True, allow_infinity=True, width=32)
                if dtype.kind == "f"
                else st.integers(-1000, 1000),
                min_size=size,
                max_size=size,
            )
        )
        arrays[draw(st.sampled_from([name, name + "_x"]))] = np.array(values, dtype).reshape(shape)
    return encode_weights(arrays)


def decodes_and_fits(data: bytes) -> dict[str, np.ndarray] | None:
    """The full decode's verdict: the arrays, or None when refused (with InvalidWeights)."""
    try:
        arrays = decode_weights(data)
        validate(arrays, SCHEMA)
    except InvalidWeights:
        return None
    return arrays


def streamed_verdict(data: bytes, tmp_path: Path) -> np.ndarray | None:
    """The streaming reader's verdict: the flat row it reads, or None when refused."""
    path = tmp_path / "peer.safetensors"
    path.write_bytes(data)
    try:
        extents = check_weight_file(path, SCHEMA)
    except InvalidWeights:
        return None
    row = np.empty(SCHEMA.num_elements, dtype=np.float64)
    fill_row(iter_weight_parts(path, extents), row)
    return row


@SETTINGS
@given(data=st.one_of(st.binary(max_size=512), tampered_files(), other_models()))
def test_any_weight_file_is_refused_cleanly_or_read_as_it_is(data: bytes, tmp_path: Path) -> None:
    arrays = decodes_and_fits(data)
    row = streamed_verdict(data, tmp_path)
    # The two readers agree on every file: both refuse it, or both read the same values.
    assert (arrays is None) == (row is None)
    if arrays is not None and row is not None:
        flat = [arrays[name].astype(np.float64).ravel() for name in SCHEMA.names]
        np.testing.assert_array_equal(row, np.concatenate(flat))
        assert all(np.isfinite(a).all() for a in arrays.values())


def test_the_untampered_file_is_accepted(tmp_path: Path) -> None:
    """The property above would pass by refusing everything: the good file must get through."""
    arrays = decodes_and_fits(GOOD_FILE)
    assert arrays is not None and streamed_verdict(GOOD_FILE, tmp_path) is not None
    np.testing.assert_array_equal(arrays["layer.weight"], MODEL["layer.weight"])


# ------------------------------------------------------------------------ JSON-RPC parameters

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**300), 2**300)
    | st.floats(allow_nan=False)
    | st.text(max_size=80),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
HEX_DIGITS = "0123456789abcdefABCDEF"
hexish = st.text(alphabet=HEX_DIGITS + "xX _-+ \t\n", max_size=70).map(lambda t: "0x" + t)
rpc_inputs = json_values | hexish | st.dictionaries(
    st.sampled_from(
        ["from", "to", "gas", "value", "data", "input", "blockHash", "blockNumber",
         "fromBlock", "toBlock", "address", "topics", "gasPrice", "nonce"]
    ),
    json_values | hexish,
    max_size=5,
)  # fmt: skip
QUANTITY_RE = re.compile(r"0[xX][0-9a-fA-F]{1,64}")
DATA_RE = re.compile(r"0[xX]([0-9a-fA-F]{2})*")


def refused_or(parse: Any, value: Any) -> tuple[bool, Any]:
    """(True, result) when `parse` accepts `value`; (False, None) when it refuses it with
    RpcError. Any other exception fails the test."""
    try:
        return True, parse(value)
    except RpcError:
        return False, None


@SETTINGS
@given(value=rpc_inputs)
def test_a_quantity_is_refused_or_read_exactly(value: Any) -> None:
    accepted, number = refused_or(lambda v: parse_quantity(v, "q"), value)
    if isinstance(value, str):
        assert accepted == bool(QUANTITY_RE.fullmatch(value) and int(value, 16) <= MAX_UINT256)
        if accepted:
            assert number == int(value, 16)
    elif accepted:
        assert isinstance(value, int) and not isinstance(value, bool) and number == value


@SETTINGS
@given(value=rpc_inputs)
def test_data_is_refused_or_read_exactly(value: Any) -> None:
    accepted, data = refused_or(lambda v: parse_data(v, "d"), value)
    assert accepted == (isinstance(value, str) and bool(DATA_RE.fullmatch(value)))
    if accepted:
        assert data.hex() == value[2:].lower()


@SETTINGS
@given(value=rpc_inputs, arity=st.tuples(st.integers(0, 3), st.integers(0, 2)))
def test_every_parameter_parser_refuses_cleanly(value: Any, arity: tuple[int, int]) -> None:
    for parse in (
        parse_block_id,
        parse_call_request,
        parse_log_filter,
        parse_reward_percentiles,
        lambda v: unpack_params(v if isinstance(v, list) else [v], *arity),
    ):
        refused_or(parse, value)


@pytest.mark.parametrize(
    "value",
    ["0x 1", "0x1_0", "0x+1", "0x-1", " 0x1", "0x1\n"],
)
def test_quantities_with_what_int_tolerates_are_refused(value: str) -> None:
    """int(text, 16) takes spaces, underscores and signs; geth refuses them, and so do we."""
    assert refused_or(lambda v: parse_quantity(v, "q"), value) == (False, None)


@pytest.mark.parametrize("value", ["0x12 34", "0x 1234", "0x1234\n"])
def test_data_with_what_fromhex_tolerates_is_refused(value: str) -> None:
    assert refused_or(lambda v: parse_data(v, "d"), value) == (False, None)
