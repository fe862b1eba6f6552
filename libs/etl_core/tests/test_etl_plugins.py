"""Plugins: discovery through entry points and a plugins directory, and clear errors."""

from __future__ import annotations

import textwrap

import polars as pl
import pytest
from etl_core import (
    PLUGINS_DIR_ENV,
    PluginError,
    apply_pipeline,
    discover_plugins,
    fit_pipeline,
    load_plugin,
    plan_etl,
)
from etl_core.quick_profile import quick_profile
from shared_contracts.etl import EtlConfig, FittedPipeline

GOOD = '''
import polars as pl
from pydantic import BaseModel, ConfigDict
from etl_core import TransformPlugin


class AddConstant(TransformPlugin):
    name = "add_constant"

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid")
        amount: float

    def fit(self, data, columns):
        return {"means": {c: data.select(pl.col(c).mean()).collect().item() for c in columns}}

    def transform(self, data, columns, state):
        return data.with_columns(
            (pl.col(c) + self.config.amount - state["means"][c]).alias(c) for c in columns
        )
'''


@pytest.fixture
def plugins_dir(tmp_path, monkeypatch):
    directory = tmp_path / "plugins"
    directory.mkdir()
    monkeypatch.delenv(PLUGINS_DIR_ENV, raising=False)
    return directory


def test_example_package_is_found_through_its_entry_point(plugins_dir):
    plugins = discover_plugins()
    assert "rare_categories" in plugins
    plugin = load_plugin("rare_categories", {"min_fraction": 0.2})
    frame = pl.DataFrame({"c": ["a"] * 5 + ["b"] * 4 + ["z"]})
    state = plugin.fit(frame.lazy(), ["c"])
    assert state == {"kept": {"c": ["a", "b"]}}
    out = plugin.transform(frame.lazy(), ["c"], state).collect()
    assert out["c"].to_list() == ["a"] * 5 + ["b"] * 4 + ["other"]


def test_plugin_from_a_directory_runs_in_a_pipeline_and_replays(plugins_dir, monkeypatch):
    (plugins_dir / "add_constant.py").write_text(GOOD)
    monkeypatch.setenv(PLUGINS_DIR_ENV, str(plugins_dir))
    assert "add_constant" in discover_plugins()
    frame = pl.DataFrame({"x": [1.0, 2.0, 3.0], "c": ["a", "a", "b"]})
    config = EtlConfig.model_validate(
        {"plugins": [{"name": "add_constant", "columns": ["x"], "config": {"amount": 10}},
                     {"name": "rare_categories", "columns": ["c"], "config": {"min_fraction": 0.5}}]}
    )
    plan = plan_etl(quick_profile(frame), config=config)
    pipeline = FittedPipeline.model_validate_json(fit_pipeline(plan, frame.lazy()).model_dump_json())
    out = apply_pipeline(pipeline, frame.lazy()).collect()
    assert out["x"].to_list() == [9.0, 10.0, 11.0]
    assert out["c"].to_list() == ["a", "a", "other"]
    step = next(s for s in plan.steps if s.kind == "plugin")
    assert "add_constant" in step.reason


def test_explicit_plugins_dir_in_the_config(plugins_dir):
    (plugins_dir / "add_constant.py").write_text(GOOD)
    frame = pl.DataFrame({"x": [1.0, 3.0]})
    config = EtlConfig.model_validate(
        {"plugins_dir": str(plugins_dir), "plugins": [{"name": "add_constant", "columns": ["x"], "config": {"amount": 1}}]}
    )
    pipeline = fit_pipeline(plan_etl(quick_profile(frame), config=config), frame.lazy())
    assert apply_pipeline(pipeline, frame.lazy()).collect()["x"].to_list() == [0.0, 2.0]


def test_a_plugin_that_fails_to_import_is_named(plugins_dir):
    (plugins_dir / "broken_thing.py").write_text("import this_module_does_not_exist\n")
    with pytest.raises(PluginError, match="'broken_thing'.*ModuleNotFoundError"):
        discover_plugins(plugins_dir)


def test_a_plugin_without_transform_is_named(plugins_dir):
    (plugins_dir / "lazy.py").write_text(
        "from etl_core import TransformPlugin\n\nclass Lazy(TransformPlugin):\n    name = 'lazy_one'\n"
    )
    with pytest.raises(PluginError, match="'lazy_one'.*transform"):
        discover_plugins(plugins_dir)


def test_bad_plugin_config_is_named(plugins_dir):
    with pytest.raises(PluginError, match="(?s)'rare_categories': invalid config.*min_fraction"):
        load_plugin("rare_categories", {"min_fraction": 3})
    with pytest.raises(PluginError, match="(?s)'rare_categories': invalid config.*bogus"):
        load_plugin("rare_categories", {"bogus": 1})


def test_unknown_plugin_lists_the_available_ones(plugins_dir):
    frame = pl.DataFrame({"x": [1.0]})
    config = EtlConfig.model_validate({"plugins": [{"name": "nope"}]})
    with pytest.raises(PluginError, match="'nope': no such plugin.*rare_categories"):
        plan_etl(quick_profile(frame), config=config)


def test_bad_plugin_config_fails_at_planning_before_any_data_is_read(plugins_dir):
    frame = pl.DataFrame({"c": ["a"]})
    config = EtlConfig.model_validate({"plugins": [{"name": "rare_categories", "config": {"label": ""}}]})
    with pytest.raises(PluginError, match="(?s)'rare_categories': invalid config.*label"):
        plan_etl(quick_profile(frame), config=config)


def test_a_plugin_whose_state_is_not_json_is_named(plugins_dir):
    (plugins_dir / "bad_state.py").write_text(textwrap.dedent('''
        from etl_core import TransformPlugin

        class BadState(TransformPlugin):
            name = "bad_state"

            def fit(self, data, columns):
                return {"fn": print}

            def transform(self, data, columns, state):
                return data
    '''))
    frame = pl.DataFrame({"x": [1.0]})
    config = EtlConfig.model_validate({"plugins_dir": str(plugins_dir), "plugins": [{"name": "bad_state"}]})
    with pytest.raises(PluginError, match="'bad_state'.*not JSON"):
        fit_pipeline(plan_etl(quick_profile(frame), config=config), frame.lazy())


def test_a_plugin_failing_at_transform_is_named(plugins_dir):
    (plugins_dir / "boom.py").write_text(textwrap.dedent('''
        from etl_core import TransformPlugin

        class Boom(TransformPlugin):
            name = "boom"

            def transform(self, data, columns, state):
                raise RuntimeError("kaput")
    '''))
    frame = pl.DataFrame({"x": [1.0]})
    config = EtlConfig.model_validate({"plugins_dir": str(plugins_dir), "plugins": [{"name": "boom"}]})
    with pytest.raises(PluginError, match="'boom': transform\\(\\) failed: RuntimeError: kaput"):
        fit_pipeline(plan_etl(quick_profile(frame), config=config), frame.lazy())
