"""Merge parameters are checked once, by the method's own declaration, and every place that
takes them (the learner's settings at SwarmCallback start, the demo's command line, the
merge itself) refuses a bad one with the same ConfigError."""

from __future__ import annotations

import json

import pytest

from swarm_learning.merge import choose_merge, parse_params
from swarm_learning.settings import LearnerSettings
from swarm_network.errors import ConfigError

BAD = [
    ("trimmedmean", {"beta": 0.7}, "merge method 'trimmedmean': beta must be a number in [0, 0.5)"),
    ("coordmedian", {"f": 1}, "merge method 'coordmedian' has no parameter 'f'"),
    ("geomedian", {"tol": "small"}, "merge method 'geomedian': tol must be a finite number >= 0"),
    ("krum", {"f": 1.5}, "merge method 'krum': f must be an int >= 0, got 1.5"),
    ("mean", {"weight_by": "votes"}, "weight_by must be one of weightage, samples, got 'votes'"),
    ("fedprox", {}, "unknown merge method 'fedprox'; known methods: coordmedian"),
]


def test_good_parameters_pass_and_keep_their_values() -> None:
    assert choose_merge("krum", {"f": 1}).params == {"f": 1}
    assert choose_merge(" TrimmedMean ", '{"beta": 0.2}').params == {"beta": 0.2}
    assert choose_merge("multikrum", {"f": 0, "m": None}).name == "multikrum"
    assert choose_merge("geomedian", {"max_iter": 5, "tol": 0, "eps": 1e-9}).params["tol"] == 0


@pytest.mark.parametrize(("method", "params", "message"), BAD)
def test_choose_merge_refuses_with_a_message_naming_method_and_parameter(
    method: str, params: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        choose_merge(method, params)
    assert message in str(caught.value)


@pytest.mark.parametrize(("method", "params", "message"), BAD)
def test_learner_settings_refuse_the_same_way_before_joining(
    method: str, params: dict[str, object], message: str
) -> None:
    """SwarmCallback resolves its settings first thing: a bad method fails there."""
    with pytest.raises(ConfigError) as caught:
        LearnerSettings.resolve({"merge_method": method, "merge_params": params}, environ={})
    assert message in str(caught.value)


@pytest.mark.parametrize(("method", "params", "message"), BAD[:2])
def test_the_demo_command_line_refuses_the_same_way(
    method: str, params: dict[str, object], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from swarm_learning.demo import train_digits

    argv = ["--merge-method", method, "--merge-params", json.dumps(params)]
    with pytest.raises(SystemExit):
        train_digits.parse_args(argv)
    assert message in capsys.readouterr().err


def test_parameters_must_be_a_json_object() -> None:
    with pytest.raises(ConfigError, match="merge parameters on chain are not JSON"):
        parse_params("{", "on chain")
    with pytest.raises(ConfigError, match="must be a JSON object"):
        parse_params("[1]")
    assert parse_params("") == {}
    with pytest.raises(ConfigError, match="given to this node are not JSON"):
        LearnerSettings.resolve({"merge_params": "beta=1"}, environ={})


def test_a_training_by_samples_checks_in_with_the_sample_count() -> None:
    """The method says whether its training weighs by samples; the learner then checks in
    with its sample count, otherwise with its node weightage."""
    settings = LearnerSettings.resolve({"node_weightage": 3, "num_samples": "250"}, environ={})
    assert settings.num_samples == 250
    assert settings.weightage(choose_merge("mean", {"weight_by": "samples"})) == 250
    assert settings.weightage(choose_merge("mean", {})) == 3
    assert settings.weightage(choose_merge("coordmedian", {})) == 3
    assert choose_merge("mean", {"weight_by": "samples"}).weighs_by_samples
    assert not choose_merge("mean", {"weight_by": "weightage"}).weighs_by_samples


def test_by_samples_without_a_sample_count_fails_at_start() -> None:
    with pytest.raises(ConfigError, match="pass num_samples"):
        LearnerSettings.resolve(
            {"merge_method": "mean", "merge_params": '{"weight_by": "samples"}'}, environ={}
        )
    with pytest.raises(ConfigError, match="num_samples must be a positive"):
        LearnerSettings.resolve({"numSamples": 0}, environ={})


def test_a_dict_of_parameters_is_kept_as_its_json() -> None:
    settings = LearnerSettings.resolve(
        {"mergeMethod": "TrimmedMean", "merge_params": {"beta": 0.1}}, environ={}
    )
    assert (settings.merge_method, settings.merge_params) == ("trimmedmean", '{"beta": 0.1}')
    assert settings.merge_choice().params == {"beta": 0.1}


@pytest.mark.parametrize("given", [["beta", 0.1], 0.1, ("a",), b'{"beta": 0.1}', {1, 2}])
def test_merge_params_of_another_type_are_refused_at_start_with_one_message(
    given: object,
) -> None:
    with pytest.raises(ConfigError) as refused:
        LearnerSettings.resolve({"merge_params": given}, environ={})
    assert str(refused.value) == (
        "merge_params must be a dict or a JSON object as text, e.g. '{\"beta\": 0.2}'; "
        f"got {type(given).__name__} {given!r}"
    )


def test_merge_params_as_json_text_and_as_a_dict_give_the_same_settings() -> None:
    as_text = LearnerSettings.resolve(
        {"merge_method": "trimmedmean", "merge_params": '{"beta": 0.25}'}, environ={}
    )
    as_dict = LearnerSettings.resolve(
        {"merge_method": "trimmedmean", "merge_params": {"beta": 0.25}}, environ={}
    )
    assert as_text.merge_choice() == as_dict.merge_choice()
    assert as_dict.merge_choice().params == {"beta": 0.25}


def test_a_dict_with_a_value_json_cannot_hold_is_refused_at_start() -> None:
    with pytest.raises(ConfigError, match="merge_params must hold only JSON values"):
        LearnerSettings.resolve({"merge_params": {"beta": object()}}, environ={})
