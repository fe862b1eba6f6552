"""Reading an ETL config written by a user."""

from __future__ import annotations

import json
from typing import Any

import yaml
from pydantic import ValidationError
from shared_contracts.errors import validation_problems
from shared_contracts.etl import EtlConfig

__all__ = ["ConfigError", "config_from_mapping", "load_config"]


class ConfigError(ValueError):
    """The config text is not valid YAML/JSON or does not match the schema; ``problems`` says what is wrong in
    plain words, one line each (the option, what it allows and the value given), fit to show its author."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        self.problems = problems or [message]
        super().__init__("\n".join([message, *problems]) if problems else message)


def load_config(text: str) -> EtlConfig:
    """Parse an ETL config from YAML or JSON text.

    Parameters
    ----------
    text
        The config document. JSON is YAML, so both parse; an empty document gives the defaults.

    Returns
    -------
    EtlConfig
        The validated config.

    Raises
    ------
    ConfigError
        With the location of the problem when the text does not parse or validate.
    """
    try:
        data: Any = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            raise ConfigError(f"ETL config is neither YAML nor JSON: {_yaml_problem(exc)}") from exc
    return config_from_mapping({} if data is None else data)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """Where and what, in the words of the parser, without its dump of the document's internal name.

    >>> try:
    ...     yaml.safe_load("features: [unclosed")
    ... except yaml.YAMLError as exc:
    ...     _yaml_problem(exc)
    "line 1, column 20: expected ',' or ']', but got '<stream end>'"
    """
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        return where + exc.problem
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def config_from_mapping(data: Any) -> EtlConfig:
    """Validate an ETL config already parsed into a mapping (as an analysis request carries it).

    Raises
    ------
    ConfigError
        When it is not a mapping, names an unknown version, or does not validate.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"ETL config must be a mapping, not {type(data).__name__}")
    version = data.get("version", 1)
    if version != 1:
        raise ConfigError(f"ETL config version {version!r} is not supported (this reader knows version 1)")
    try:
        return EtlConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError("invalid ETL config:", validation_problems(exc, data)) from exc
