"""Transform plugins: third-party steps discovered at run time.

A plugin is a subclass of :class:`TransformPlugin` with a ``name``, a pydantic ``Config`` model
that validates its options, and ``fit``/``transform`` methods working on polars lazy frames. The
state ``fit`` returns must be JSON data, because it is stored in the fitted pipeline.

Plugins are found through the ``dsp.etl_plugins`` entry-point group of installed packages and in
a plugins directory (every ``*.py`` file in it defining ``TransformPlugin`` subclasses), given
explicitly or through the ``DSP_PLUGINS_DIR`` environment variable.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import inspect
import json
import os
import sys
from pathlib import Path
from typing import Any, ClassVar

import polars as pl
from pydantic import BaseModel, ConfigDict, ValidationError
from shared_contracts.errors import validation_problems

__all__ = [
    "ENTRY_POINT_GROUP",
    "PLUGINS_DIR_ENV",
    "PluginError",
    "TransformPlugin",
    "discover_plugins",
    "load_plugin",
]

ENTRY_POINT_GROUP = "dsp.etl_plugins"
PLUGINS_DIR_ENV = "DSP_PLUGINS_DIR"


class PluginError(ValueError):
    """A plugin could not be loaded, configured or run. The message names the plugin."""

    def __init__(self, plugin: str, message: str) -> None:
        super().__init__(f"ETL plugin {plugin!r}: {message}")
        self.plugin = plugin


class TransformPlugin:
    """Base class of ETL plugins.

    Subclasses set ``name`` and ``description``, may replace ``Config`` with their own pydantic
    model, and implement :meth:`transform` (and :meth:`fit` when they learn from the data).
    ``transform`` must be row-local: each output row depends only on its input row and the state.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid")

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        try:
            self.config = self.Config.model_validate(config or {})
        except ValidationError as exc:
            problems = validation_problems(exc, config or {})
            raise PluginError(self.name, f"invalid config: {'; '.join(problems)}") from None

    def fit(self, data: pl.LazyFrame, columns: list[str]) -> dict[str, Any]:
        """Learn a JSON-able state from the training data (default: nothing)."""
        return {}

    def transform(self, data: pl.LazyFrame, columns: list[str], state: dict[str, Any]) -> pl.LazyFrame:
        """Transform the data with the learned state."""
        raise NotImplementedError

    def output_columns(self, columns: list[str], state: dict[str, Any]) -> list[str]:
        """Columns the transform adds (for lineage); default none."""
        return []


def _plugin_classes_in(module: Any) -> list[type[TransformPlugin]]:
    return [
        obj
        for _, obj in inspect.getmembers(module, inspect.isclass)
        if issubclass(obj, TransformPlugin) and obj is not TransformPlugin and obj.__module__ == module.__name__
    ]


def _check_class(label: str, obj: Any) -> type[TransformPlugin]:
    if not (inspect.isclass(obj) and issubclass(obj, TransformPlugin)):
        raise PluginError(label, f"{obj!r} is not a TransformPlugin subclass")
    if not obj.name:
        raise PluginError(label, "the plugin class sets no `name`")
    if obj.transform is TransformPlugin.transform:
        raise PluginError(obj.name, "the plugin does not implement transform()")
    return obj


def _load_dir(directory: Path) -> dict[str, type[TransformPlugin]]:
    found: dict[str, type[TransformPlugin]] = {}
    if not directory.is_dir():
        raise PluginError(str(directory), "plugins directory does not exist")
    for path in sorted(directory.glob("*.py")):
        if path.name.startswith("_"):
            continue
        module_name = f"dsp_etl_plugin_{path.stem}"
        try:
            spec = importlib.util.spec_from_file_location(module_name, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop(module_name, None)
            raise PluginError(path.stem, f"failed to import {path}: {type(exc).__name__}: {exc}") from exc
        for cls in _plugin_classes_in(module):
            cls = _check_class(path.stem, cls)
            found[cls.name] = cls
    return found


def discover_plugins(plugins_dir: str | Path | None = None) -> dict[str, type[TransformPlugin]]:
    """Every plugin available: entry points of group ``dsp.etl_plugins`` and the plugins directory.

    Parameters
    ----------
    plugins_dir
        Directory of plugin modules; defaults to ``$DSP_PLUGINS_DIR`` when set.

    Returns
    -------
    dict
        Plugin name -> plugin class. A plugin of the directory wins over an entry point of the
        same name.

    Raises
    ------
    PluginError
        When a plugin fails to import or is not a valid ``TransformPlugin``; the message names it.
    """
    found: dict[str, type[TransformPlugin]] = {}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except Exception as exc:
            raise PluginError(ep.name, f"entry point {ep.value!r} failed to load: {type(exc).__name__}: {exc}") from exc
        cls = _check_class(ep.name, obj)
        found[ep.name] = cls
        found.setdefault(cls.name, cls)
    directory = plugins_dir or os.environ.get(PLUGINS_DIR_ENV)
    if directory:
        found.update(_load_dir(Path(directory)))
    return found


def load_plugin(name: str, config: dict[str, Any] | None = None, *, plugins_dir: str | Path | None = None) -> TransformPlugin:
    """Instantiate the plugin called ``name`` with its validated config.

    Raises
    ------
    PluginError
        When no plugin has that name or the config does not validate.
    """
    plugins = discover_plugins(plugins_dir)
    cls = plugins.get(name)
    if cls is None:
        known = ", ".join(sorted(plugins)) or "none"
        raise PluginError(name, f"no such plugin (available: {known})")
    return cls(config)


def check_state(plugin: str, state: Any) -> dict[str, Any]:
    """Make sure a plugin's fitted state is JSON data."""
    if not isinstance(state, dict):
        raise PluginError(plugin, f"fit() must return a dict, not {type(state).__name__}")
    try:
        return json.loads(json.dumps(state))
    except (TypeError, ValueError) as exc:
        raise PluginError(plugin, f"fit() returned a state that is not JSON data: {exc}") from exc
