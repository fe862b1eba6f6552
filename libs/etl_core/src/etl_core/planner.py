"""Deriving an ETL plan from a profile and a config.

Every step the planner adds carries the reason in plain language, with the figures from the
profile that triggered it, e.g. ``"income: 20.0% missing, numeric, skew 2.31 -> median fill"``.
Per-column overrides replace the automatic choice and say so in the reason.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from shared_contracts.etl import MAX_PLAN_COLUMNS, ColumnOverride, EtlConfig, EtlPlan, EtlStep
from shared_contracts.profile import Alert, ColumnProfile, Profile

from .plugins import load_plugin
from .steps import PLUGIN_STEP_KIND, STEP_IMPLS

__all__ = ["PlanError", "TargetNotFoundError", "plan_etl"]

_NUMERIC = {"integer", "float", "currency", "percent", "latitude", "longitude"}
_DATES = {"date", "datetime"}
_PHASES = tuple(STEP_IMPLS)  # the registry lists the built-in kinds in the order a plan runs them


class PlanError(ValueError):
    """The config or the target asks for what the data cannot give (an unknown column, a target encoding
    without a target, too many new columns): a plain sentence about the request, fit to show its author."""


class TargetNotFoundError(PlanError):
    """The target column is not in the data."""


def _pct(fraction: float) -> str:
    return f"{100 * fraction:.1f}%"


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


class _Column:
    """What the planner knows of one column, after the type fixes it decided."""

    def __init__(self, profile: ColumnProfile, alerts: list[Alert]) -> None:
        self.p = profile
        self.name = profile.name
        self.alerts = {a.type: a for a in alerts}
        self.physical = profile.physical_type
        self.semantic = profile.semantic_type
        self.cast_to: str | None = None
        self.gains_nulls = False  # a planned step turns some values into nulls

    @property
    def is_text_physical(self) -> bool:
        return self.physical in ("String", "Categorical") or self.physical.startswith("Enum")

    @property
    def kind(self) -> str:
        """numeric, category, boolean, date, text or other, once type fixes are applied."""
        if self.cast_to is not None:
            return {"float": "numeric", "integer": "numeric", "date": "date", "datetime": "date",
                    "boolean": "boolean", "string": "category", "categorical": "category"}[self.cast_to]
        if self.semantic in _NUMERIC and not self.is_text_physical:
            return "numeric"
        if self.semantic in _DATES and not self.is_text_physical:
            return "date"
        if self.semantic == "boolean":
            return "boolean"
        if self.semantic == "categorical":
            return "category"
        if self.semantic == "text":
            return "text"
        if self.physical.startswith(("Int", "UInt", "Float")) and self.semantic not in ("identifier",):
            return "numeric"
        return "other"

    @property
    def skew(self) -> float | None:
        return self.p.numeric.skewness if self.p.numeric else None


def _alerts_by_column(profile: Profile) -> dict[str, list[Alert]]:
    out: dict[str, list[Alert]] = {}
    for alert in profile.alerts:
        for c in alert.columns:
            out.setdefault(c, []).append(alert)
    return out


def _is_time_series(profile: Profile) -> str | None:
    """The name of a regular, unique time index column, if the data looks like a time series."""
    for col in profile.columns:
        if (
            col.semantic_type in _DATES
            and col.dates is not None
            and col.dates.frequency
            and col.count > 2
            and col.distinct == col.count
        ):
            return col.name
    return None


def _sentinels(alert: Alert) -> list[str | int | float]:
    """Placeholder values named by a DISGUISED_MISSING alert (``value`` or a ``values`` list of reprs)."""
    values: list[str | int | float] = []
    single = alert.evidence.get("value")
    if single is not None and not isinstance(single, bool):
        values.append(single)
    listed = alert.evidence.get("values")
    if isinstance(listed, str) and listed.strip():
        try:
            parsed = ast.literal_eval(f"[{listed}]")
        except (ValueError, SyntaxError):
            parsed = [v.strip().strip("'\"") for v in listed.split(",")]
        values += [v for v in parsed if isinstance(v, str | int | float) and not isinstance(v, bool)]
    return values


# the count column of a frequency table (Titanic's Freq): how many cases each row stands for
_COUNT_NAME = re.compile(r"^(freq|frequency|frequencies|n|count|counts|weight|weights|wt|cases)$", re.IGNORECASE)
_SENTINEL_CODES = (-9999999.0, -999999.0, -99999.0, -9999.0, -999.0, -99.0, 99999.0, 999999.0, 9999999.0)


def _numeric_sentinel(col: _Column) -> float | None:
    """A missing-value code (-999, 99999...) at the edge of a column, far beyond its quartiles."""
    n = col.p.numeric
    if n is None or n.p25 is None or n.p75 is None:
        return None
    spread = max(n.p75 - n.p25, abs(n.p50 or 0.0) * 0.1, 1e-9)
    if n.min is not None and n.min < 0 and n.min in _SENTINEL_CODES and n.min < n.p25 - 10 * spread:
        return n.min
    if n.max is not None and n.max > 0 and n.max in _SENTINEL_CODES and n.max > n.p75 + 10 * spread:
        return n.max
    return None


def _frequency_count(columns: list[_Column], target: str | None) -> str | None:
    """The count column of a frequency table, which the auto plan leaves as it is.

    One whole-number column, named like a count and never negative, beside columns that are all
    categories (Titanic: Class, Sex, Age, Survived and ``Freq``). Its values are how many cases a
    row stands for; capping or rescaling them would change the weights of every statistic and model.
    """
    others = [c for c in columns if c.name != target]
    numeric = [c for c in others if c.kind == "numeric"]
    if len(numeric) != 1 or len(others) < 2 or any(c.kind not in ("category", "boolean") for c in others
                                                     if c is not numeric[0]):
        return None
    count = numeric[0]
    n = count.p.numeric
    whole = count.physical.startswith(("Int", "UInt")) or count.semantic == "integer"
    if not _COUNT_NAME.match(count.name.strip()) or not whole or n is None or n.min is None or n.min < 0:
        return None
    return count.name


def _is_free_text(col: _Column) -> bool:
    """Text with words (spaces in at least a tenth of the values), not codes, ids or e-mails."""
    s = col.p.strings
    if s is None or not col.p.count or "ID_LIKE" in col.alerts:
        return False
    return s.with_spaces / col.p.count >= 0.1


def _outlier_bounds(col: _Column, method: str, k: float) -> tuple[float, float] | None:
    n = col.p.numeric
    if n is None:
        return None
    if method == "iqr" and n.p25 is not None and n.p75 is not None:
        iqr = n.p75 - n.p25
        return n.p25 - k * iqr, n.p75 + k * iqr
    if method == "zscore" and n.mean is not None and n.std:
        return n.mean - k * n.std, n.mean + k * n.std
    if method == "mad" and n.p50 is not None and n.mad:
        return n.p50 - k * 1.4826 * n.mad, n.p50 + k * 1.4826 * n.mad
    return None


def plan_etl(profile: Profile | dict[str, Any], *, config: EtlConfig | None = None, target: str | None = None) -> EtlPlan:
    """Derive the cleaning and feature-engineering steps for a dataset from its profile.

    Parameters
    ----------
    profile
        The dataset's profile (a ``Profile`` or its JSON-decoded dict).
    config
        Thresholds, defaults and per-column overrides; ``EtlConfig()`` when omitted. In ``manual``
        mode only the overrides, rules, explicit steps and plugins become steps.
    target
        The column to predict: its missing rows are dropped and it gets no outlier treatment,
        imputation or feature engineering.

    Returns
    -------
    EtlPlan
        Ordered steps, each with its reason.

    Raises
    ------
    TargetNotFoundError
        The target is not a column of the profile.
    PlanError
        A per-column override, rule, duplicate key or interaction names a column that does not exist, a
        target encoding has no target, or the plan would add too many columns.
    PluginError
        A plugin of the config is unknown, fails to load or rejects its config.
    """
    if not isinstance(profile, Profile):
        profile = Profile.model_validate(profile)
    config = config or EtlConfig()
    names = [c.name for c in profile.columns]
    if target is not None and target not in names:
        raise TargetNotFoundError(f"target column {target!r} not found (columns: {', '.join(names)})")
    unknown = [c for c in config.columns if c not in names] + [r.column for r in config.rules if r.column not in names]
    if unknown:
        raise PlanError(f"the ETL config names unknown columns: {', '.join(sorted(set(unknown)))}")

    auto = config.mode == "auto"
    alerts = _alerts_by_column(profile)
    columns = [_Column(c, alerts.get(c.name, [])) for c in profile.columns]
    time_index = _is_time_series(profile)
    buckets: dict[str, list[EtlStep]] = {phase: [] for phase in _PHASES}

    by_name = {c.name: c for c in columns}
    counts = _frequency_count(columns, target) if auto else None

    def add(kind: str, cols: list[str], reason: str, origin: str = "auto", **params: Any) -> None:
        if kind in ("cast", "invalid_to_null") or (kind == "strings" and params.get("empty_as_null")):
            for c in cols:
                by_name[c].gains_nulls = True
        buckets[kind].append(EtlStep(kind=kind, columns=cols, params=params, reason=reason, origin=origin))  # type: ignore[arg-type]

    dropped: set[str] = set()
    for col in columns:
        ov = config.columns.get(col.name, ColumnOverride())
        name, p = col.name, col.p
        is_target = name == target
        # --- drop whole columns
        if ov.drop is not None:
            if ov.drop:
                add("drop_columns", [name], f"{name}: dropped by the config", "override")
                dropped.add(name)
                continue
        elif auto and not is_target and profile.dataset.rows >= 2:  # one row makes every column "constant"
            if p.count == 0:
                add("drop_columns", [name], f"{name}: every value is missing -> drop column")
                dropped.add(name)
                continue
            if p.missing_fraction > config.missing.drop_column_above:
                add(
                    "drop_columns",
                    [name],
                    f"{name}: {_pct(p.missing_fraction)} missing, above the "
                    f"{_pct(config.missing.drop_column_above)} threshold -> drop column",
                )
                dropped.add(name)
                continue
            if config.drop_constant and p.distinct <= 1 and p.missing == 0:
                add("drop_columns", [name], f"{name}: a single value ({p.top_values[0].value if p.top_values else '?'}) in every row -> drop column")
                dropped.add(name)
                continue

        # --- string normalisation
        if col.is_text_physical:
            s = p.strings
            case = ov.case if ov.case is not None else config.strings.case
            findings = []
            if s is not None:
                if s.whitespace_padded:
                    findings.append(f"{s.whitespace_padded} values padded with whitespace")
                if s.empty:
                    findings.append(f"{s.empty} empty strings")
                if s.non_ascii and config.strings.nfkc:
                    findings.append(f"{s.non_ascii} values with non-ASCII characters")
            if "DIRTY_CATEGORY" in col.alerts or "INCONSISTENT_CATEGORY" in col.alerts:
                findings.append("inconsistent spellings flagged by the profile")
            if ov.case is not None and ov.case != "none":
                add("strings", [name], f"{name}: case folding ({ov.case}) requested", "override",
                    trim=config.strings.trim, nfkc=config.strings.nfkc, case=case,
                    empty_as_null=config.strings.empty_as_null)
            elif auto and (findings or case != "none"):
                what = ["trim" if config.strings.trim else "", "NFKC" if config.strings.nfkc else "",
                        f"{case} case" if case != "none" else "", "empty as null" if config.strings.empty_as_null else ""]
                add("strings", [name], f"{name}: {', '.join(findings) or 'text column'} -> {', '.join(w for w in what if w)}",
                    trim=config.strings.trim, nfkc=config.strings.nfkc, case=case,
                    empty_as_null=config.strings.empty_as_null)

        # --- type fixes
        if ov.cast is not None:
            col.cast_to = ov.cast
            add("cast", [name], f"{name}: cast to {ov.cast} requested", "override", to=ov.cast)
        elif auto and col.is_text_physical and not p.overridden:  # the user typed it: no re-typing
            to = None
            why = ""
            if "NUMBERS_AS_TEXT" in col.alerts or col.semantic in _NUMERIC:
                to = "integer" if col.semantic == "integer" else "float"
                why = "numbers stored as text"
            elif "TYPE_DATE" in col.alerts or col.semantic in _DATES:
                to = "datetime" if col.semantic == "datetime" else "date"
                why = "dates stored as text"
            elif col.semantic == "boolean" and p.distinct <= 2:
                to = "boolean"
                why = "yes/no values stored as text"
            if to is not None:
                col.cast_to = to
                add("cast", [name], f"{name}: {why} (semantic type {col.semantic}) -> cast to {to}", to=to)

        # --- invalid values
        for rule in config.rules:
            if rule.column == name:
                rule_params = rule.model_dump(exclude={"column"}, exclude_none=True)
                add("invalid_to_null", [name], f"{name}: values failing the rule {rule_params} -> null", "config",
                    **rule_params)
        if auto and "DISGUISED_MISSING" in col.alerts and col.alerts["DISGUISED_MISSING"].severity != "info":
            sentinels = _sentinels(col.alerts["DISGUISED_MISSING"])
            if sentinels:
                add("invalid_to_null", [name],
                    f"{name}: placeholder values {sentinels} stand for missing -> null", invalid_values=sentinels)
        elif auto and col.kind == "numeric" and not is_target:
            code = _numeric_sentinel(col)
            if code is not None and p.numeric is not None:
                add("invalid_to_null", [name],
                    f"{name}: {code:g} is a usual code for a missing value and lies far outside the other "
                    f"values (quartiles {_fmt(p.numeric.p25)}..{_fmt(p.numeric.p75)}) -> null",
                    invalid_values=[code])
        if auto and col.kind == "numeric" and p.numeric is not None and p.numeric.infinite:
            add("invalid_to_null", [name], f"{name}: {p.numeric.infinite} infinite values -> null", nonfinite=True)

        # --- near-identical categories
        merge = ov.merge_categories
        if isinstance(merge, dict):
            add("merge_categories", [name], f"{name}: category mapping given by the config", "override", mapping=merge)
        elif merge is True or (
            merge is None and auto and config.strings.merge_near_duplicates and col.kind in ("category", "other")
            and ("DIRTY_CATEGORY" in col.alerts or "INCONSISTENT_CATEGORY" in col.alerts)
        ):
            alert = col.alerts.get("DIRTY_CATEGORY") or col.alerts.get("INCONSISTENT_CATEGORY")
            detail = alert.message if alert else "requested"
            add("merge_categories", [name],
                f"{name}: {detail} -> merge spellings equal up to case, spacing and punctuation into the most frequent",
                "auto" if merge is None else "override")

    # --- duplicates (after string fixes, which can reveal more of them)
    dup = config.duplicates
    if dup.action == "drop":
        if dup.subset:
            missing_keys = [c for c in dup.subset if c not in names]
            if missing_keys:
                raise PlanError(f"duplicate key columns not found: {', '.join(missing_keys)}")
            add("dedupe", [], f"rows repeating the key ({', '.join(dup.subset)}) -> keep the first", "config",
                subset=dup.subset)
        elif auto and profile.dataset.duplicate_rows > 0:
            add("dedupe", [],
                f"{profile.dataset.duplicate_rows} rows ({_pct(profile.dataset.duplicate_fraction)}) identical to an "
                "earlier row -> keep the first")

    # --- rows
    if target is not None and target not in dropped:
        tp = profile.column(target)
        if tp.missing:
            add("drop_rows_missing", [target],
                f"{target}: the target is missing in {tp.missing} rows ({_pct(tp.missing_fraction)}) -> drop those rows")
    if config.missing.drop_row_above is not None:
        add("drop_rows_missing", [], f"rows with more than {_pct(config.missing.drop_row_above)} of their cells "
            "missing -> drop", "config", max_fraction=config.missing.drop_row_above)

    live = [c for c in columns if c.name not in dropped]
    features = config.features
    for col in live:
        ov = config.columns.get(col.name, ColumnOverride())
        name, p = col.name, col.p
        if name == target:
            continue
        kind = col.kind
        skew = col.skew
        binary = p.distinct <= 2

        # --- outliers
        action = ov.outliers if ov.outliers is not None else (config.outliers.action if auto else "none")
        method = ov.outlier_method or config.outliers.method
        k = ov.outlier_threshold or config.outliers.threshold
        # a frequency table's counts are the data's weights, not outliers (unless the config says otherwise)
        weights = name == counts and ov.outliers is None
        if kind == "numeric" and not binary and action != "none" and not weights:
            origin = "override" if ov.outliers is not None else "auto"
            if action == "winsorize":
                q = config.outliers.winsor_quantiles
                add("outliers", [name], f"{name}: winsorize at the {q[0]:.0%}/{q[1]:.0%} quantiles", origin,
                    method=method, threshold=k, action=action, quantiles=list(q))
            else:
                bounds = _outlier_bounds(col, method, k)
                n = p.numeric
                beyond = bounds is not None and n is not None and n.min is not None and n.max is not None and (
                    n.min < bounds[0] or n.max > bounds[1])
                if beyond or ov.outliers is not None:
                    label = {"iqr": f"IQR x{k:g}", "zscore": f"|z| > {k:g}", "mad": f"robust z > {k:g}"}[method]
                    rng = f"[{_fmt(n.min)}, {_fmt(n.max)}]" if n else "?"
                    add("outliers", [name],
                        f"{name}: range {rng} reaches beyond "
                        f"[{_fmt(bounds[0] if bounds else None)}, {_fmt(bounds[1] if bounds else None)}] ({label}) -> {action}",
                        origin, method=method, threshold=k, action=action)

        # --- missing values
        if p.missing or col.gains_nulls or ov.missing is not None or ov.missing_indicator:
            frac = p.missing_fraction
            indicator = ov.missing_indicator if ov.missing_indicator is not None else (
                auto and frac > config.missing.indicator_above)
            strategy: str | None = ov.missing
            origin = "override" if strategy is not None else "auto"
            why = ""
            if strategy is None and auto:
                if kind == "numeric":
                    strategy = config.missing.numeric
                    if strategy == "auto":
                        if binary:
                            strategy, why = "mode", f"{p.distinct} distinct values"
                        elif time_index is not None:
                            strategy, why = "ffill", f"time series on {time_index}"
                        elif skew is not None and abs(skew) > 1:
                            strategy, why = "median", f"skew {skew:.2f}"
                        else:
                            strategy, why = "mean", f"skew {_fmt(skew) if skew is None else f'{skew:.2f}'}"
                elif kind in ("category", "boolean"):
                    strategy = config.missing.categorical
                    if strategy == "auto":
                        if kind == "boolean" or frac < 0.05:
                            strategy, why = "mode", "few missing"
                        else:
                            strategy, why = "constant", "many missing"
                elif kind == "date" and time_index is not None and name != time_index:
                    strategy, why = "ffill", f"time series on {time_index}"
                else:
                    strategy = "none"
            strategy = strategy or "none"
            missing_text = f"{_pct(frac)} missing" if p.missing else "no value missing yet (steps above may null some)"
            parts = [f"{name}: {missing_text}, {kind}" + (f", {why}" if why else "")]
            actions = []
            if strategy == "drop_rows":
                actions.append("drop rows")
            elif strategy != "none":
                actions.append(f"{strategy} fill")
            if indicator:
                actions.append("indicator")
            if actions:
                reason = f"{parts[0]} -> {' + '.join(actions)}"
                if indicator:
                    add("missing_indicator", [name], reason, "override" if ov.missing_indicator is not None else origin)
                if strategy == "drop_rows":
                    add("drop_rows_missing", [name], reason, origin)
                elif strategy != "none":
                    params: dict[str, Any] = {"strategy": strategy}
                    if strategy == "constant":
                        fill = ov.fill_value if ov.fill_value is not None else config.missing.fill_value
                        params["value"] = fill if fill is not None else ("(missing)" if kind != "numeric" else 0)
                    add("fill_missing", [name], reason, origin, **params)

        # --- feature engineering
        if kind == "date" and (ov.date_parts if ov.date_parts is not None else auto and features.date_parts):
            add("date_parts", [name], f"{name}: {'date' if col.semantic == 'date' or col.cast_to == 'date' else 'date-time'} -> calendar parts" + (" + cyclical sin/cos" if features.cyclical else ""),
                "override" if ov.date_parts else "auto", cyclical=features.cyclical)
        if kind == "text" and (
            ov.text_features if ov.text_features is not None else auto and features.text_features and _is_free_text(col)
        ):
            add("text_features", [name], f"{name}: free text -> length and word count",
                "override" if ov.text_features else "auto")
        # a frequency table's counts keep their values unless the config says otherwise
        spared = name == counts and ov.transform is None and ov.scale is None and not ov.bins
        if kind == "numeric" and not binary and not spared:
            transform = ov.transform if ov.transform is not None else (features.transform if auto else "none")
            if transform == "auto":
                transform = "yeojohnson" if skew is not None and abs(skew) > 1 else "none"
            if transform != "none":
                add("power", [name], f"{name}: skew {_fmt(skew)} -> {transform} transform",
                    "override" if ov.transform is not None else "auto", method=transform)
            scale = ov.scale if ov.scale is not None else (features.scale if auto else "none")
            if scale != "none":
                add("scale", [name], f"{name}: numeric -> {scale} scaling",
                    "override" if ov.scale is not None else "auto", method=scale)
            bins = ov.bins if ov.bins is not None else (features.bins if auto else None)
            if bins:
                add("bin", [name], f"{name}: numeric -> {bins} {ov.bin_method} bins",
                    "override" if ov.bins is not None else "auto", n_bins=bins, method=ov.bin_method)
        if kind == "category" or (kind == "other" and ov.encode not in (None, "none")):
            encode = ov.encode if ov.encode is not None else (features.encode if auto else "none")
            distinct = p.distinct
            if encode == "auto":
                encode = "onehot" if distinct <= features.max_onehot else "frequency"
            if encode == "target" and target is None:
                raise PlanError(f"{name}: target encoding needs a target column")
            if encode != "none":
                add("encode", [name], f"{name}: categorical with {distinct} categories -> {encode} encoding",
                    "override" if ov.encode is not None else "auto", method=encode, max_categories=features.max_onehot)

    for a, b in features.interactions:
        for c in (a, b):
            if c not in names:
                raise PlanError(f"interaction names unknown column {c!r}")
        add("interaction", [a, b], f"{a} x {b}: interaction requested", "config")

    steps = [s for phase in _PHASES for s in buckets[phase]]
    for step in config.steps:
        steps.append(step.model_copy(update={"origin": "config"}))
    for spec in config.plugins:
        load_plugin(spec.name, spec.config, plugins_dir=config.plugins_dir)  # fail early, naming the plugin
        steps.append(
            EtlStep(kind=PLUGIN_STEP_KIND, columns=spec.columns, params={"plugin": spec.name, "config": spec.config},
                    reason=f"plugin {spec.name} requested by the config", origin="config")
        )
    _check_added_columns(steps, profile)
    return EtlPlan(target=target, input_columns=names, steps=steps, plugins_dir=config.plugins_dir)


# Columns one step adds per input column (one-hot: up to its category count, see _added_columns).
_ADDED_PER_COLUMN = {"missing_indicator": 1, "text_features": 2, "bin": 1, "date_parts": 13}


def _added_columns(step: EtlStep, distinct: dict[str, int]) -> int:
    """At most how many columns ``step`` adds to the table."""
    if step.kind == "interaction":
        return 1
    if step.kind == "encode" and step.params.get("method") == "onehot":
        cap = int(step.params.get("max_categories") or 0) + 1  # the kept categories and one for the rest
        return sum(min(distinct.get(c, cap), cap) for c in step.columns)
    return _ADDED_PER_COLUMN.get(step.kind, 0) * len(step.columns)


def _check_added_columns(steps: list[EtlStep], profile: Profile) -> None:
    """Refuse a plan that would add more than MAX_PLAN_COLUMNS columns (a PlanError naming the options to lower)."""
    distinct = {c.name: c.distinct for c in profile.columns}
    added = sum(_added_columns(step, distinct) for step in steps)
    if added > MAX_PLAN_COLUMNS:
        raise PlanError(f"the plan would add about {added} columns, more than the limit of {MAX_PLAN_COLUMNS}; "
                         "lower features.max_onehot, or encode, bin or combine fewer columns")
