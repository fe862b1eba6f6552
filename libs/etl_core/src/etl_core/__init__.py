"""The ETL core: configurable, explained, replayable cleaning and feature engineering.

Pure data in, data out: no broker, database or store. The service adapter and the ``dsp`` CLI both
call :func:`run_etl`; the prediction path replays a stored pipeline with :func:`apply_pipeline`.

It is a library rather than the etl service's own ``domain`` package because two services run it:
etl fits and applies pipelines, and ml replays a model's fitted pipeline on prediction rows.
Neither service imports the other; both import this pure core.
"""

from .config import ConfigError, config_from_mapping, load_config
from .export import defuse_cell, defuse_formulas, is_formula, write_safe_csv
from .pipeline import RowMode, apply_pipeline, conform_input, fit_pipeline
from .planner import PlanError, TargetNotFoundError, plan_etl
from .plugins import (
    ENTRY_POINT_GROUP,
    PLUGINS_DIR_ENV,
    PluginError,
    TransformPlugin,
    discover_plugins,
    load_plugin,
)
from .run import EtlResult, ExportFormat, run_etl

__all__ = [
    "ENTRY_POINT_GROUP",
    "PLUGINS_DIR_ENV",
    "ConfigError",
    "EtlResult",
    "ExportFormat",
    "PlanError",
    "PluginError",
    "RowMode",
    "TargetNotFoundError",
    "TransformPlugin",
    "apply_pipeline",
    "conform_input",
    "defuse_cell",
    "defuse_formulas",
    "discover_plugins",
    "fit_pipeline",
    "is_formula",
    "config_from_mapping",
    "load_config",
    "load_plugin",
    "plan_etl",
    "run_etl",
    "write_safe_csv",
]
