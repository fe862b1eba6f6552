"""The prediction use case checks the rows sent against the model's input columns (AutoGluon fits: slow)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from dsp_ml.domain import analyze, load_model, predict
from dsp_ml.service_layer.predict import LoadedModels, PredictionRefused, predict_rows
from etl_core import apply_pipeline, fit_pipeline, plan_etl
from etl_core.quick_profile import quick_profile

pytestmark = pytest.mark.slow

SAMPLE = Path(__file__).resolve().parents[3] / "samples" / "penguins-raw.csv"
COLUMNS = {"Species": "species", "Island": "island", "Culmen Length (mm)": "bill_length_mm",
           "Culmen Depth (mm)": "bill_depth_mm", "Flipper Length (mm)": "flipper_length_mm",
           "Body Mass (g)": "body_mass_g", "Sex": "sex"}
CLEAN = {"island": "Biscoe", "bill_length_mm": 46.5, "bill_depth_mm": 14.8, "flipper_length_mm": 217,
         "body_mass_g": 5200, "sex": "FEMALE"}


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A species model of the penguins sample, as the platform makes one: the ETL pipeline, then AutoML."""
    base = tmp_path_factory.mktemp("penguins")
    frame = pl.read_csv(SAMPLE, null_values=["NA", ""]).select(list(COLUMNS)).rename(COLUMNS)
    frame = frame.with_columns(pl.col("species").str.split(" ").list.first())
    pipeline = fit_pipeline(plan_etl(quick_profile(frame), target="species"), frame.lazy())
    apply_pipeline(pipeline, frame.lazy(), rows="filter").collect().write_parquet(base / "data.parquet")
    result = analyze(base / "data.parquet", target="species", time_budget_s=10, model_dir=base / "model")
    model = load_model(base / "model", expected_manifest_sha256=result.model.manifest_sha256)
    return model, pipeline


async def _predict(fitted, rows: list[dict[str, Any]], **options: Any) -> dict[str, Any]:
    model, pipeline = fitted
    model_id = uuid.uuid4()
    models = LoadedModels(cache={model_id: (model, pipeline, None)})

    async def find(_: uuid.UUID) -> Any:
        return object()  # registered; the model itself comes from the cache

    body = json.dumps({"rows": rows}).encode()
    prediction = await predict_rows(find, None, models, str(model_id), body,  # type: ignore[arg-type]
                                    "application/json", **options)
    return prediction.answer


async def _refused(fitted, rows: list[dict[str, Any]], **options: Any) -> PredictionRefused:
    with pytest.raises(PredictionRefused) as caught:
        await _predict(fitted, rows, **options)
    assert caught.value.status == 422
    return caught.value


def test_the_pipeline_takes_the_sample_columns(fitted):
    _, pipeline = fitted
    assert set(CLEAN) | {"species"} == set(pipeline.input_schema)
    assert pipeline.input_schema["bill_length_mm"] == "Float64"


async def test_the_request_of_the_issue_is_refused_naming_the_unparseable_column(fitted):
    refused = await _refused(fitted, [{"foo": "bar", "bill_length_mm": "abc"}])
    assert refused.code == "unparseable_values" and refused.field == "bill_length_mm"
    assert "bill_length_mm" in refused.message and "'abc'" in refused.message
    error = refused.body()["error"]
    assert error["details"]["columns"] == ["bill_length_mm"]
    assert error["details"]["values"] == {"bill_length_mm": [{"row": 0, "value": "abc"}]}
    assert set(error["details"]["missing_columns"]) == set(CLEAN) - {"bill_length_mm"}


async def test_unparseable_values_list_the_first_rows(fitted):
    rows = [CLEAN, {**CLEAN, "body_mass_g": "heavy"}, CLEAN, {**CLEAN, "body_mass_g": "4 kg"}]
    refused = await _refused(fitted, rows)
    assert refused.code == "unparseable_values" and refused.field == "body_mass_g"
    assert refused.details == {"columns": ["body_mass_g"], "missing_columns": [],
                               "values": {"body_mass_g": [{"row": 1, "value": "heavy"}, {"row": 3, "value": "4 kg"}]}}


async def test_a_clean_request_is_answered_as_before_with_nothing_to_report(fitted):
    model, pipeline = fitted
    rows = [CLEAN, {**CLEAN, "island": "Torgersen", "bill_length_mm": 39.1, "bill_depth_mm": 18.7,
                    "flipper_length_mm": 181, "body_mass_g": 3750, "sex": "MALE"}]
    answer = await _predict(fitted, rows)
    direct = predict(model, apply_pipeline(pipeline, pl.DataFrame(rows).lazy()).collect())
    assert answer["rows"] == direct.model_dump(mode="json")["rows"]
    assert [row["prediction"] for row in answer["rows"]] == ["Gentoo", "Adelie"]
    assert {"model_id", "model", "task_type", "target", "rows", "drift"} <= set(answer)
    assert answer["warnings"] == [] and answer["input"] == {"rows": 2, "filled": 0, "coerced": 0}


async def test_unknown_columns_are_ignored_with_a_warning(fitted):
    plain = await _predict(fitted, [CLEAN])
    answer = await _predict(fitted, [{**CLEAN, "foo": "bar", "colour": 3}])
    assert answer["rows"] == plain["rows"]
    [warning] = answer["warnings"]
    assert warning["code"] == "unknown_columns" and warning["columns"] == ["foo", "colour"]
    assert "'foo'" in warning["message"]


async def test_strict_refuses_unknown_columns(fitted):
    refused = await _refused(fitted, [{**CLEAN, "foo": "bar"}], strict=True)
    assert refused.code == "unknown_columns" and refused.field == "foo"
    assert refused.details == {"columns": ["foo"]}
    assert (await _predict(fitted, [CLEAN], strict=True))["warnings"] == []


async def test_a_missing_column_is_refused_even_though_the_pipeline_would_impute_it(fitted):
    refused = await _refused(fitted, [{k: v for k, v in CLEAN.items() if k not in ("sex", "island")}])
    assert refused.code == "missing_columns" and refused.field == "island"
    assert refused.details == {"columns": ["island", "sex"]}
    assert "'sex'" in refused.message


async def test_the_target_may_be_sent_or_left_out(fitted):
    answer = await _predict(fitted, [{**CLEAN, "species": "Gentoo"}])
    assert answer["warnings"] == [] and answer["input"]["coerced"] == 0


async def test_values_read_as_the_training_type_are_counted_as_coerced(fitted):
    rows = [CLEAN, {**CLEAN, "bill_length_mm": " 46.5", "flipper_length_mm": "217"}, {**CLEAN, "body_mass_g": 5200.0}]
    answer = await _predict(fitted, rows)
    plain = await _predict(fitted, [CLEAN] * 3)
    assert answer["input"] == {"rows": 3, "filled": 0, "coerced": 1}  # a float for an integer column is not counted
    assert answer["rows"] == plain["rows"]


async def test_nulls_are_filled_and_counted(fitted):
    rows = [{**CLEAN, "sex": None}, {**CLEAN, "bill_length_mm": None, "island": ""}, CLEAN,
            {**CLEAN, "body_mass_g": "NA"}]
    answer = await _predict(fitted, rows)
    assert answer["input"] == {"rows": 4, "filled": 3, "coerced": 0}
    assert len(answer["rows"]) == 4 and answer["warnings"] == []


async def test_missing_value_tokens_in_a_text_column_predict_as_a_null_does(fitted):
    """Ingest read `NA` as missing in the rows the model learnt from, so `NA` in a text column is no level."""
    tokens = ["NA", " NA ", "null", "#N/A", "NaN"]
    answer = await _predict(fitted, [{**CLEAN, "sex": None}, *({**CLEAN, "sex": t} for t in tokens),
                                     {**CLEAN, "sex": "MALE"}])
    rows = answer["rows"]
    assert answer["input"]["filled"] == 1 + len(tokens)
    for row in rows[1:-1]:
        assert row["probabilities"] == pytest.approx(rows[0]["probabilities"], abs=1e-12)
    # "none" is a real level of many categories: kept as it is, not read as missing
    kept = await _predict(fitted, [{**CLEAN, "sex": "none"}])
    assert kept["input"]["filled"] == 0


async def test_arrays_and_objects_read_as_text_and_an_integer_past_128_bits_is_refused(fitted):
    """polars cannot build a column of arrays or objects of mixed types, nor hold such an integer (a TypeError
    and an OverflowError: a 500 of the route); the column reads as text, the integer is refused."""
    refused = await _refused(fitted, [CLEAN, {**CLEAN, "bill_length_mm": [1, True, []]}])
    assert refused.code == "unparseable_values" and refused.field == "bill_length_mm"
    assert refused.body()["error"]["details"]["values"] == {"bill_length_mm": [{"row": 1, "value": "[1,true,[]]"}]}
    answer = await _predict(fitted, [{**CLEAN, "notes": {"a": [False, 2.5]}}, {**CLEAN, "notes": []}])
    assert answer["warnings"][0]["columns"] == ["notes"] and len(answer["rows"]) == 2
    huge = await _refused(fitted, [{**CLEAN, "body_mass_g": 2**200}])
    assert huge.code == "invalid_rows" and huge.field == "rows"
