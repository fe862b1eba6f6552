"""The plain words of pydantic's errors: which option is wrong, what it allows and the value given."""

from __future__ import annotations

from typing import Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from shared_contracts.errors import validation_problems
from shared_contracts.etl import EtlConfig


def _problems(data: dict[str, Any], **kwargs: Any) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        EtlConfig.model_validate(data)
    return validation_problems(caught.value, data, **kwargs)


@pytest.mark.parametrize(("config", "problems"), [
    ({"features": {"bins": 100_000_000}}, ["features.bins must be at most 1000; got 100000000"]),
    ({"features": {"max_onehot": 0}}, ["features.max_onehot must be at least 1; got 0"]),
    ({"split": {"holdout_fraction": 1}}, ["split.holdout_fraction must be less than 1; got 1"]),
    ({"missing": {"drop_column_above": 2.5}}, ["missing.drop_column_above must be at most 1; got 2.5"]),
    ({"colums": {}}, ["colums is not a known option"]),
    ({"outliers": {"winsor_quantiles": [0.1]}}, ["outliers.winsor_quantiles[1] is required"]),
    ({"rules": [{"column": "x", "min": "low"}]}, ["rules[0].min must be a number; got 'low'"]),
    ({"columns": {"Body Mass (g)": {"bins": "many"}}}, ["columns['Body Mass (g)'].bins must be a whole number; got 'many'"]),
    ({"missing": 5}, ["missing must be a mapping of options; got 5"]),
    ({"steps": "not a list"}, ["steps must be a list; got 'not a list'"]),
    ({"duplicates": {"action": "merge"}}, ["duplicates.action must be one of 'drop' or 'keep'; got 'merge'"]),
    ({"columns": {"x": {"merge_categories": 3}}}, ["columns.x.merge_categories must be true or false or a mapping; got 3"]),
])
def test_each_problem_names_the_option_what_it_allows_and_the_value(config: dict[str, Any], problems: list[str]) -> None:
    assert _problems(config) == problems


def test_a_union_of_literals_is_one_line_listing_every_allowed_value() -> None:
    (line,) = _problems({"missing": {"numeric": "avg"}})
    assert line == ("missing.numeric must be one of 'none', 'drop_rows', 'mean', 'median', 'mode', 'constant', "
                    "'ffill', 'bfill' or 'auto'; got 'avg'")


def test_one_line_per_problem_with_the_prefix_and_no_pydantic_internals() -> None:
    config = {"features": {"bins": 100_000_000, "encode": "hash"}, "missing": {"indicator_above": -1}}
    problems = _problems(config, prefix="etl_config")
    assert problems == [
        "etl_config.missing.indicator_above must be at least 0; got -1",
        "etl_config.features.encode must be one of 'none', 'auto', 'onehot', 'ordinal', 'frequency' or 'target';"
        " got 'hash'",
        "etl_config.features.bins must be at most 1000; got 100000000",
    ]
    text = "\n".join(problems)
    for internal in ("pydantic.dev", "type=", "input_value", "input_type", "Input should", "literal["):
        assert internal not in text


def test_big_values_and_many_problems_stay_short() -> None:
    (digits,) = _problems({"features": {"bins": "9" * 5000}})
    assert digits == f"features.bins must be a smaller whole number; got '{'9' * 40}...'"
    (listed,) = _problems({"missing": {"drop_column_above": list(range(10_000))}})
    assert listed == "missing.drop_column_above must be a number; got a list of 10000 item(s)"
    (named,) = _problems({"columns": {"c" * 5000: {"bins": 1}}})
    assert named == f"columns['{'c' * 40}...'].bins must be at least 2; got 1"
    many = _problems({"rules": [{}] * 1000})
    assert len(many) == 11 and many[0] == "rules[0].column is required"
    assert many[-1] == "and 990 more problem(s)"
    (too_many,) = _problems({"rules": [{"column": "x"}] * 10_001})
    assert too_many == "rules must have at most 10000 item(s); got 10001"


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Literal["fast", "exact"] = "fast"
    label: str = Field(default="x", max_length=8, pattern=r"^[a-z]+$")
    weight: float = Field(default=1.0, gt=0)


def test_without_the_data_union_names_are_still_left_out() -> None:
    with pytest.raises(ValidationError) as caught:
        EtlConfig.model_validate({"missing": {"numeric": "avg"}})
    assert validation_problems(caught.value) == validation_problems(caught.value, {"missing": {"numeric": "avg"}})
    with pytest.raises(ValidationError) as caught:
        _Options.model_validate({"mode": "slow", "label": "ABCDEFGHIJ", "weight": 0, "extra": True})
    assert validation_problems(caught.value, prefix="options") == [
        "options.mode must be one of 'fast' or 'exact'; got 'slow'",
        "options.label must be at most 8 character(s) long; got 10",
        "options.weight must be greater than 0; got 0",
        "options.extra is not a known option",
    ]
