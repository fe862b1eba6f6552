"""What the page holds for the real stages' documents: the cards, their data and their texts.

Every expectation here is derived from the input documents (``Profile``, ``EtlReport``,
``AnalysisResult``) and the dataset, so a field the builder stops reading shows up as a
missing card or a wrong figure instead of a silently empty chart.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pydantic
import pytest
from dsp_dashboard.domain import build_dashboard
from dsp_dashboard.domain.builder import _choose_components
from dsp_dashboard.domain.components import Component
from dsp_dashboard.domain.data import load_sample
from markupsafe import escape
from shared_contracts.analysis import AnalysisResult
from shared_contracts.etl import EtlReport
from shared_contracts.profile import Profile

DATA = Path(__file__).parent / "data"

CASES = {
    # fixture name: (documents' prefix, whether an analysis document exists)
    "penguins": ("penguins", False),
    "macrodata": ("macro", True),
    "iris": ("iris", True),
}


def _documents(name: str) -> tuple[Profile, EtlReport, AnalysisResult | None]:
    prefix, has_analysis = CASES[name]
    profile = Profile.model_validate_json((DATA / f"{prefix}.profile.json").read_text())
    etl = EtlReport.model_validate_json((DATA / f"{prefix}.etl_report.json").read_text())
    result = (AnalysisResult.model_validate_json((DATA / f"{prefix}.analysis.json").read_text())
              if has_analysis else None)
    return profile, etl, result


def _payload(html: str) -> dict:
    found = re.search(r'<script type="application/json" id="dsp-payload">(.*?)</script>', html, re.S)
    assert found
    return json.loads(found.group(1))


def _has_missing(frame: pl.DataFrame) -> bool:
    return any(frame[c].null_count() > 0 or (frame[c].dtype.is_float() and bool(frame[c].is_nan().any()))
               for c in frame.columns)


def expected_ids(frame: pl.DataFrame, profile: Profile, etl: EtlReport, result: AnalysisResult | None) -> set[str]:
    """The cards the documents and the dataset support (association pairs apart).

    The dataset rules (correlations, time series) are the plain ones that hold for these
    datasets, which have no identifier-like column and fewer than 60 columns.
    """
    ids = {"kpis", "quality", "preview"} | {f"col-{i}" for i in range(frame.width)}
    if etl.lineage:
        ids.add("lineage")
    if _has_missing(frame):
        ids.add("missing")
    if sum(1 for c in frame.columns if frame[c].dtype.is_numeric() and frame[c].n_unique() > 1) >= 2:
        ids.add("corr")
    if any(frame[c].dtype.is_temporal() and frame[c].n_unique() > 2 for c in frame.columns):
        ids.add("timeseries")
    critical = [a for a in profile.alerts if a.severity == "critical"]
    if critical or (result is not None and result.insights):
        ids.add("insights")
    if result is None:
        return ids
    ids.add("task")
    automl = result.automl
    if automl is not None and automl.leaderboard:
        ids.add("leaderboard")
    if automl is not None and automl.confusion_matrix is not None and automl.confusion_matrix.labels:
        ids.add("confusion")
    ids |= {f"forecast-{n}" for n, fc in enumerate(result.forecasts) if fc.points}
    if result.clustering is not None:
        ids.add("clusters")
    if result.anomalies is not None and result.anomalies.top:
        ids.add("anomalies")
    if result.feature_tests:
        ids.add("tests")
    if result.leakage:
        ids.add("leakage")
    ids |= {f"groups-{k}" for k in range(sum(1 for g in result.descriptive[:2] if g.rows))}
    ex = result.explanations
    if ex is not None:
        ids |= {f"pdp-{k}" for k in range(sum(1 for p in ex.partial_dependence[:3] if p.grid))}
        ranked = ex.permutation_importance or ex.shap_global
        if any(i.importance or i.std for i in ranked):
            ids.add("importance")
        explained = [r for r in ex.shap_rows if r.contributions]
        if explained:
            ids.add("shap-waterfall")
        if len(explained) >= 10 or (ex.shap_global and ex.permutation_importance):
            ids.add("shap-summary")
    return ids


@pytest.fixture(params=sorted(CASES))
def built(request, write_parquet):
    """The cards chosen and the page built for one dataset and its documents."""
    name = request.param
    frame = request.getfixturevalue(name)
    profile, etl, result = _documents(name)
    html = build_dashboard(data=write_parquet(frame), profile=profile, etl_report=etl, analysis=result)
    cards = _choose_components(load_sample(frame, semantic_types={c.name: c.semantic_type for c in profile.columns},
                                           distinct_counts={c.name: c.distinct for c in profile.columns}),
                               frame, profile, etl, result)
    return frame, profile, etl, result, cards, html


def _card(cards: list[Component], card_id: str) -> Component:
    return next(c for c in cards if c.id == card_id)


def test_the_page_has_the_cards_the_documents_support(built):
    frame, profile, etl, result, cards, html = built
    ids = [c.id for c in cards]
    assert len(ids) == len(set(ids))
    assert {i for i in ids if not i.startswith("pair-")} == expected_ids(frame, profile, etl, result)
    for card_id in ids:
        assert f'id="{card_id}"' in html
    assert set(_payload(html)["charts"]) == {c.id for c in cards if c.chart is not None}


def test_association_pairs_come_from_the_documents(built):
    frame, profile, _, result, cards, _ = built
    if result is not None and result.associations:
        strengths = {frozenset((a.a, a.b)): a.value for a in result.associations}
    else:
        matrix = profile.correlations.pearson
        assert matrix is not None
        strengths = {}
        for i, a in enumerate(matrix.rows or matrix.columns):
            for j, b in enumerate(matrix.columns):
                value = matrix.values[i][j] if i < len(matrix.values) and j < len(matrix.values[i]) else None
                if j > i and value is not None and a != b:
                    strengths[frozenset((a, b))] = value
    strong = {pair for pair, v in strengths.items() if abs(v) >= 0.3 and len(pair) == 2 and pair <= set(frame.columns)}
    pairs = [c for c in cards if c.id.startswith("pair-")]
    assert [c.id for c in pairs] == [f"pair-{k}" for k in range(len(pairs))]
    assert bool(pairs) == bool(strong) and len(pairs) <= 4
    for card in pairs:
        key = frozenset(card.columns)
        if card.note.startswith("The target against"):  # drawn first whatever its strength
            assert card is pairs[0] and result is not None and result.task.target in key
            continue
        assert key in strong
        assert f"= {strengths[key]:.2f}" in card.note


def test_overview_figures_are_the_profile_s(built):
    _, profile, _, _, cards, html = built
    kpis = {c["label"]: c["value"] for c in _card(cards, "kpis").context["cards"]}
    dataset = profile.dataset
    assert kpis["Rows"] == f"{dataset.rows:,}" and kpis["Columns"] == f"{dataset.columns:,}"
    assert kpis["Missing cells"] == f"{100 * dataset.cells_missing_fraction:.1f}%"
    assert kpis["Duplicate rows"] == f"{dataset.duplicate_rows:,}"
    assert kpis["Quality score"] == f"{profile.quality.score:.0f} / 100"
    quality = _card(cards, "quality")
    assert sorted((a["kind"], a["message"]) for a in quality.context["alerts"]) == sorted(
        (a.type, a.message) for a in profile.alerts)
    assert [p["name"] for p in quality.context["parts"]] == [c.name.capitalize() for c in profile.quality.components]
    for alert in profile.alerts:
        assert str(escape(alert.message)) in html


def test_column_cards_show_the_profile_s_statistics(built):
    _, profile, _, _, cards, _ = built
    column_cards = [c for c in cards if c.template == "column"]
    assert {c.title for c in column_cards} == {c.name for c in profile.columns}
    for card in column_cards:
        prof = profile.column(card.title)
        facts = dict(card.context["facts"])
        assert card.context["semantic"] == prof.semantic_type
        assert facts["Non-missing"] == f"{prof.count:,}" and facts["Distinct"] == f"{prof.distinct:,}"
        assert ("Mean" in facts) == (prof.numeric is not None)
        if prof.dates is not None and prof.dates.min is not None:
            assert facts["First"].startswith(prof.dates.min.date().isoformat())
            assert facts["First"].endswith(" UTC") == (prof.dates.time_zone is not None)
        if prof.strings is not None and prof.strings.mean_length is not None:
            assert facts["Mean length"] == f"{prof.strings.mean_length:.1f}"


def test_cleaning_steps_are_the_lineage(built):
    _, _, etl, _, cards, html = built
    lineage = _card(cards, "lineage")
    steps = lineage.context["steps"]
    assert [s["reason"] for s in steps] == [step.reason for step in etl.lineage]
    assert [s["op"] for s in steps] == [step.kind.replace("_", " ") for step in etl.lineage]
    assert lineage.context["summary"]["before"] == f"{etl.rows_in:,}"
    assert lineage.context["summary"]["after"] == f"{etl.rows_out:,}"
    for step in etl.lineage:
        assert str(escape(step.reason)) in html


def test_insights_are_the_analysis_s_then_the_critical_alerts(built):
    _, profile, _, result, cards, html = built
    statements = [i.statement for i in sorted(result.insights, key=lambda i: (i.rank, -i.score))] if result else []
    critical = [a.message for a in profile.alerts if a.severity == "critical"]
    expected = statements + critical[:max(0, 25 - len(statements))]
    if not expected:
        assert "insights" not in {c.id for c in cards}
        return
    entries = _card(cards, "insights").context["entries"]
    assert [e["text"] for e in entries] == expected
    for text in expected:
        assert str(escape(text)) in html


def test_model_results_carry_the_analysis_s_numbers(built):
    _, _, _, result, cards, html = built
    if result is None:
        pytest.skip("no analysis document for this dataset")
    charts = _payload(html)["charts"]
    for n, fc in enumerate(result.forecasts):
        traces = {t.get("name"): t for t in charts[f"forecast-{n}"]["data"]}
        assert traces["forecast"]["x"] == [p.timestamp for p in fc.points]
        assert traces["forecast"]["y"] == pytest.approx([p.mean for p in fc.points])
        assert traces["history"]["x"] == [h[0] for h in fc.history]
    if result.clustering is not None:
        cl = result.clustering
        scatter = charts["clusters"]["data"]
        assert sum(len(t["x"]) for t in scatter) == len(cl.projection)
        assert [r["cluster"] for r in _card(cards, "clusters").context["rows"]] == [str(p.cluster) for p in cl.profiles]
    if result.anomalies is not None:
        rows = _card(cards, "anomalies").context["rows"]
        assert [r[0] for r in rows] == [f"{a.row_index + 1:,}" for a in result.anomalies.top[:15]]  # as the file counts
    if result.feature_tests:
        rows = _card(cards, "tests").context["rows"]
        order = sorted(result.feature_tests, key=lambda t: t.p_adjusted)[:25]
        assert [r[0] for r in rows] == [t.feature for t in order]
    automl = result.automl
    if automl is not None and automl.leaderboard:
        rows = _card(cards, "leaderboard").context["rows"]
        best_first = sorted(automl.leaderboard, key=lambda e: e.model != automl.best_model)
        assert [r["model"] for r in rows] == [e.model for e in best_first]  # the best model ranks first
        assert [r["model"] for r in rows if r["best"]] == [
            e.model for e in automl.leaderboard if e.is_best or e.model == automl.best_model]
    if automl is not None and automl.confusion_matrix is not None:
        heatmap = charts["confusion"]["data"][0]
        assert heatmap["text"] == [[str(v) for v in row] for row in automl.confusion_matrix.matrix]
    patterns = [p for p in result.time_patterns if p.change_points]
    if patterns and "timeseries" in charts:
        assert set(charts["timeseries"]["marks"]) <= {cp for p in patterns for cp in p.change_points}


@pytest.mark.parametrize("name", ["penguins", "macrodata"])
def test_documents_given_as_json_build_the_same_page(name, request, write_parquet):
    frame = request.getfixturevalue(name)
    profile, etl, result = _documents(name)
    path = write_parquet(frame)
    typed = build_dashboard(data=path, profile=profile, etl_report=etl, analysis=result)
    as_json = build_dashboard(data=path, profile=profile.model_dump(mode="json"), etl_report=etl.model_dump(mode="json"),
                              analysis=result.model_dump(mode="json") if result else None)
    assert as_json == typed


def test_a_document_that_is_not_a_profile_is_refused(penguins, write_parquet):
    with pytest.raises(pydantic.ValidationError):
        build_dashboard(data=write_parquet(penguins), profile={"dataset": {"rows": 3}})


def test_a_zoned_column_s_first_and_last_say_utc_and_name_the_zone(tmp_path: Path) -> None:
    """Instants are given in UTC and say so, with the column's own zone; wall-clock times are as written."""
    import datetime as dt

    from dsp_dashboard.domain.components import _profile_facts
    from dsp_profile.domain import profile_dataset

    local = pl.Series([dt.datetime(2024, 1, 1, 10), dt.datetime(2024, 7, 1, 10)])
    pl.DataFrame({"paris": local.dt.replace_time_zone("Europe/Paris"), "wall": local}).write_parquet(
        tmp_path / "t.parquet")
    profile = profile_dataset(tmp_path / "t.parquet")
    paris = dict(_profile_facts(profile.column("paris")))
    assert (paris["First"], paris["Last"], paris["Time zone"]) == (
        "2024-01-01 09:00:00 UTC", "2024-07-01 08:00:00 UTC", "Europe/Paris")
    wall = dict(_profile_facts(profile.column("wall")))
    assert (wall["First"], wall["Last"], "Time zone" in wall) == ("2024-01-01 10:00:00", "2024-07-01 10:00:00", False)
