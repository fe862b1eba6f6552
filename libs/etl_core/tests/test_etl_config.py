"""The ETL config: YAML/JSON, versioned, validated, and overrides shaping the plan."""

from __future__ import annotations

import json

import polars as pl
import pytest
from etl_core import ConfigError, TargetNotFoundError, load_config, plan_etl
from etl_core.quick_profile import quick_profile
from shared_contracts.etl import EtlConfig

YAML = """
version: 1
missing:
  drop_column_above: 0.9
  indicator_above: 0.0
outliers: {method: mad, threshold: 4, action: flag}
features:
  scale: standard
columns:
  bill_length_mm: {missing: median, scale: robust}
  island: {encode: onehot}
  year: {drop: true}
rules:
  - {column: body_mass_g, min: 3000}
"""


def test_yaml_and_json_give_the_same_config():
    from_yaml = load_config(YAML)
    import yaml

    from_json = load_config(json.dumps(yaml.safe_load(YAML)))
    assert from_yaml == from_json
    assert from_yaml.outliers.method == "mad"
    assert from_yaml.columns["island"].encode == "onehot"
    assert load_config("") == EtlConfig()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: 2", "version 2 is not supported"),
        ("missing: {drop_column_above: 2}", "drop_column_above"),
        ("colums: {}", "colums"),
        ("- a\n- b", "must be a mapping"),
        ("features: [unclosed", r"neither YAML nor JSON: line 1, column 20: expected .,. or .\]., but got .<stream end>.$"),
    ],
)
def test_bad_configs_are_rejected_with_the_reason(text, message):
    with pytest.raises(ConfigError, match=message):
        load_config(text)


def test_overrides_shape_the_plan_and_are_marked(dataset):
    frame = dataset("penguins")
    plan = plan_etl(quick_profile(frame), config=load_config(YAML), target="species")
    by_key = {(s.kind, tuple(s.columns)): s for s in plan.steps}
    assert by_key[("drop_columns", ("year",))].origin == "override"
    fill = by_key[("fill_missing", ("bill_length_mm",))]
    assert fill.params["strategy"] == "median" and fill.origin == "override"
    assert by_key[("scale", ("bill_length_mm",))].params["method"] == "robust"
    assert by_key[("scale", ("bill_depth_mm",))].params["method"] == "standard"
    assert by_key[("encode", ("island",))].params["method"] == "onehot"
    assert by_key[("invalid_to_null", ("body_mass_g",))].params == {"min": 3000.0}
    assert ("missing_indicator", ("sex",)) in by_key  # indicator_above 0 marks every partly missing column
    assert not any(s.kind == "scale" and "species" in s.columns for s in plan.steps)


def test_manual_mode_runs_only_what_was_asked(dataset):
    frame = dataset("penguins")
    config = EtlConfig.model_validate({"mode": "manual", "columns": {"sex": {"missing": "mode"}}})
    plan = plan_etl(quick_profile(frame), config=config)
    assert [(s.kind, s.columns) for s in plan.steps] == [("fill_missing", ["sex"])]


def test_unknown_columns_and_target_are_errors():
    profile = quick_profile(pl.DataFrame({"a": [1, 2]}))
    with pytest.raises(TargetNotFoundError, match="'b'"):
        plan_etl(profile, target="b")
    with pytest.raises(ValueError, match="unknown columns: zz"):
        plan_etl(profile, config=EtlConfig.model_validate({"columns": {"zz": {"drop": True}}}))


def test_plan_accepts_the_profile_as_json_data(dataset):
    profile = quick_profile(dataset("penguins"))
    assert plan_etl(json.loads(profile.model_dump_json())) == plan_etl(profile)
