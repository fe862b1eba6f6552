"""The options of a run, from the command's flags or the Python API's keywords: one reading for both."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast, get_args

from pydantic import ValidationError
from shared_contracts.events import AnalysisOptions, AnalysisTask, BadRowPolicy, IngestOptions

__all__ = ["TASKS", "OptionError", "analysis_options", "ingest_options", "load_mapping"]

TASKS: tuple[str, ...] = get_args(AnalysisTask)


class OptionError(ValueError):
    """An option the run cannot take; the message names it as the command's flag."""


def load_mapping(source: Path | str | Mapping[str, Any] | Sequence[Any]) -> Any:
    """A JSON/YAML file's mapping or list, or the mapping or list itself."""
    if isinstance(source, Mapping | list | tuple):
        return dict(source) if isinstance(source, Mapping) else list(source)
    import yaml

    path = Path(source)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise OptionError(f"{path} is not readable JSON or YAML: {exc}") from exc
    if not isinstance(data, dict | list):
        raise OptionError(f"{path} must hold a mapping")
    return data


def _sheet(value: str | int | None) -> str | int | None:
    """A sheet name, or a 0-based position when the value is a whole number."""
    if value is None or isinstance(value, int):
        return value
    return int(value) if value.strip().isdigit() else value


def ingest_options(schema: Any = None, rules: Any = None, bad_rows: str = "reject",
                   sheet: str | int | None = None) -> IngestOptions:
    """How to read the file: ``--schema`` (column -> semantic type), ``--rules``, ``--bad-rows``, ``--sheet``."""
    overrides: dict[str, str] = {}
    if schema is not None:
        data = load_mapping(schema)
        overrides = {str(k): str(v) for k, v in (data.get("columns", data)).items()}
    validation_rules: list[dict[str, Any]] = []
    block = False
    if rules is not None:
        data = load_mapping(rules)
        validation_rules = data.get("rules", data) if isinstance(data, dict) else data
        block = isinstance(data, dict) and data.get("block_on_validation_error") is True
    if bad_rows not in ("reject", "skip"):
        raise OptionError("--bad-rows must be reject or skip")
    return IngestOptions(type_overrides=overrides, bad_rows=cast(BadRowPolicy, bad_rows),
                         validation_rules=validation_rules, block_on_validation_error=block, sheet=_sheet(sheet))


def analysis_options(*, target: str | None = None, time_budget: float = 60.0, pdf: bool = False,
                     config: Any = None, keep_leaky: bool = False, keep_column: Sequence[str] | None = None,
                     theme: str = "light", task: str | None = "auto", exclude: Sequence[str] | None = None,
                     id_column: Sequence[str] | None = None) -> dict[str, Any]:
    """What ``dsp analyze`` asks of the analysis, from its flags, checked as ``AnalysisOptions``."""
    task = task or "auto"
    if theme not in ("light", "dark"):
        raise OptionError("--theme must be light or dark")
    if task not in TASKS:
        raise OptionError(f"--task must be one of {', '.join(TASKS)}")
    analysis = {"target": target, "time_budget_s": time_budget, "pdf": pdf, "keep_leaky_features": keep_leaky,
                "theme": theme, "keep_columns": list(keep_column or []), "task": task,
                "exclude_columns": list(exclude or []), "id_columns": list(id_column or []),
                "etl_config": load_mapping(config) if config is not None else None}
    try:
        AnalysisOptions.model_validate({k: v for k, v in analysis.items() if v is not None})
    except ValidationError as exc:
        raise OptionError("; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())) from exc
    return analysis
