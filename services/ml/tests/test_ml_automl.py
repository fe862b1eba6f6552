"""AutoML, explanations, leakage handling and the model registry (AutoGluon runs: marked slow)."""

from __future__ import annotations

import json
import math

import polars as pl
import pytest
from dsp_ml.domain import AnalysisError, analyze, load_model, predict

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def binary_run(tmp_path_factory, breast_cancer):
    base = tmp_path_factory.mktemp("binary")
    frame = breast_cancer.with_columns(
        pl.when(pl.col("diagnosis") == "benign").then(pl.lit("B")).otherwise(pl.lit("M")).alias("review_code"))
    path = base / "data.parquet"
    frame.write_parquet(path)
    steps = []
    result = analyze(path, target="diagnosis", time_budget_s=20, model_dir=base / "model",
                     progress=lambda fraction, message: steps.append((fraction, message)))
    return result, base / "model", frame, steps


def test_binary_analysis_reports_metrics_leaderboard_and_explanations(binary_run):
    result, _, _, steps = binary_run
    assert result.task.task_type == "binary"
    automl = result.automl
    assert automl.metrics["roc_auc"] > 0.95
    assert {"accuracy", "f1", "log_loss", "roc_auc"} <= set(automl.metrics)
    assert sum(map(sum, automl.confusion_matrix.matrix)) == automl.holdout_rows
    assert all(entry.fit_time_s is not None for entry in automl.leaderboard)
    # the best model is one model: the first row, the metrics, the saved model; SHAP says which it explains
    board = automl.leaderboard
    assert board[0].is_best and board[0].rank == 1 and board[0].model == automl.best_model == result.model.best_model
    assert automl.metrics["log_loss"] == pytest.approx(board[0].score, rel=1e-6)
    assert all(entry.metric == "log_loss" and entry.higher_is_better is False and entry.score > 0 for entry in board)
    explanations = result.explanations
    assert explanations.shap_model.startswith(("LightGBM", "CatBoost"))
    assert [entry.model for entry in board if entry.shap_explained] == [explanations.shap_model]
    assert explanations.shap_explains_best == (explanations.shap_model == automl.best_model)
    assert explanations.shap_explains_best or automl.best_model in explanations.shap_note
    assert explanations.shap_global and explanations.shap_rows
    assert explanations.permutation_importance
    assert explanations.partial_dependence
    fractions = [fraction for fraction, _ in steps]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_leaky_feature_is_left_out_of_the_model_with_evidence(binary_run):
    result, _, _, _ = binary_run
    [finding] = result.leakage
    assert finding.feature == "review_code" and finding.dropped
    assert "review_code" not in result.model.features
    assert "review_code" not in result.automl.features
    assert result.insights[0].kind == "leakage"


def test_model_metadata_records_what_was_trained(binary_run):
    result, model_dir, _, _ = binary_run
    metadata = result.model
    assert len(metadata.training_data_sha256) == 64
    assert metadata.config["time_budget_s"] == 20
    assert metadata.metrics == result.automl.metrics
    manifest = json.loads((model_dir / "manifest.json").read_text())
    assert manifest["files"] and all(len(digest) == 64 for digest in manifest["files"].values())


def test_saved_model_loads_and_predicts_with_explanations(binary_run):
    result, model_dir, frame, _ = binary_run
    model = load_model(model_dir, expected_manifest_sha256=result.model.manifest_sha256)
    predictions = predict(model, frame.head(5), explain=True)
    assert len(predictions.rows) == 5
    assert all(row.prediction in ("benign", "malignant") for row in predictions.rows)
    assert all(abs(sum(row.probabilities.values()) - 1) < 1e-6 for row in predictions.rows)
    assert all(set(row.contributions) <= set(result.model.features) for row in predictions.rows)
    assert predictions.shap_output == "log-odds"
    # two classes: every row is explained from the same expected log-odds of the positive class
    bases = {row.base_value for row in predictions.rows}
    assert len(bases) == 1 and all(isinstance(b, float) and math.isfinite(b) for b in bases)
    # loading and predicting wrote nothing new, so the directory still verifies
    load_model(model_dir, expected_manifest_sha256=result.model.manifest_sha256)


def test_missing_feature_columns_are_refused(binary_run):
    _, model_dir, frame, _ = binary_run
    model = load_model(model_dir)
    with pytest.raises(AnalysisError) as caught:
        predict(model, frame.select("mean radius").head(3))
    assert caught.value.code == "bad_prediction_input"


def test_tampered_model_directory_is_refused_before_loading(binary_run, tmp_path):
    import shutil

    result, model_dir, _, _ = binary_run
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    victim = next(path for path in sorted(copy.rglob("*.pkl")))
    victim.write_bytes(victim.read_bytes() + b"\x00")
    with pytest.raises(AnalysisError) as caught:
        load_model(copy)
    assert caught.value.code == "model_tampered"

    shutil.rmtree(copy)
    shutil.copytree(model_dir, copy)
    (copy / "predictor" / "extra.pkl").write_bytes(b"not ours")
    with pytest.raises(AnalysisError) as caught:
        load_model(copy)
    assert caught.value.code == "model_tampered"

    (copy / "predictor" / "extra.pkl").unlink()
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps(manifest, indent=1))
    with pytest.raises(AnalysisError) as caught:
        load_model(copy, expected_manifest_sha256=result.model.manifest_sha256)
    assert caught.value.code == "model_tampered"


def test_regression_with_a_suggested_free_budget(write_parquet):
    from sklearn.datasets import load_diabetes

    frame = pl.from_pandas(load_diabetes(as_frame=True).frame)
    result = analyze(write_parquet(frame), target="target", time_budget_s=15)
    assert result.task.task_type == "regression"
    assert result.automl.metrics["r2"] > 0.3
    # the budget is the analysis' total: AutoML is given what the steps before it left, less the reserve
    budget = result.automl.budget
    assert budget.total_s == 15
    assert budget.before_automl_s + budget.automl_s + budget.after_automl_s == pytest.approx(15, abs=0.01)
    assert budget.baseline_s <= budget.automl_spent_s
    assert {"r2", "rmse", "mae"} <= set(result.automl.metrics)
    assert result.model is not None and result.model.model_dir is None
    assert result.explanations.shap_rows


def test_the_time_the_job_spent_before_the_analysis_counts_against_the_budget(write_parquet):
    """The budget is the job's: 6 of 16 s went on reading, profiling and cleaning, so the analysis has 10 left.
    Half the budget stays the analysis' whatever came before (a job that waited long in a queue)."""
    from sklearn.datasets import load_diabetes

    frame = pl.from_pandas(load_diabetes(as_frame=True).frame)
    result = analyze(write_parquet(frame), target="target", time_budget_s=16, spent_before_s=6)
    budget = result.automl.budget
    assert (budget.total_s, budget.before_analysis_s) == (16, 6)
    assert budget.before_automl_s >= 6
    assert budget.before_automl_s + budget.automl_s + budget.after_automl_s == pytest.approx(16, abs=0.01)
    assert result.timings_s["before the analysis"] == 6
    late = analyze(write_parquet(frame), target="target", time_budget_s=12, spent_before_s=600)
    assert late.automl.budget.before_analysis_s == 6


def test_multiclass_target_suggested_by_name(write_parquet, iris, tmp_path):
    result = analyze(write_parquet(iris), time_budget_s=15, model_dir=tmp_path / "model")
    assert result.task.target == "species" and result.task.target_source == "suggested"
    assert result.task.task_type == "multiclass"
    assert result.automl.metrics["accuracy"] > 0.85
    # calibrated: far better than the class shares (log loss 1.10) where the classes separate this well
    assert result.automl.metrics["log_loss"] < 0.3 < result.automl.metrics["log_loss_prior"]
    assert len(result.automl.confusion_matrix.labels) == 3
    row = result.explanations.shap_rows[0]
    assert set(row.contributions) <= {"sepal length (cm)", "sepal width (cm)", "petal length (cm)",
                                      "petal width (cm)"}

    model = load_model(tmp_path / "model", expected_manifest_sha256=result.model.manifest_sha256)
    predictions = predict(model, iris.drop("species").head(4), explain=True)
    assert {row.prediction for row in predictions.rows} <= {"setosa", "versicolor", "virginica"}
    assert all(len(row.probabilities) == 3 and row.contributions for row in predictions.rows)
    assert all(row.base_value is not None for row in predictions.rows)
    assert predictions.shap_output in ("log-odds", "raw class scores")
    plain = predict(model, iris.drop("species").head(2))
    assert all(row.base_value is None and row.contributions is None for row in plain.rows)
    assert plain.shap_output is None


def test_leaky_feature_is_kept_when_asked(write_parquet, breast_cancer):
    frame = breast_cancer.with_columns(
        pl.when(pl.col("diagnosis") == "benign").then(pl.lit("B")).otherwise(pl.lit("M")).alias("review_code"))
    result = analyze(write_parquet(frame), target="diagnosis", time_budget_s=10, keep_leaky_features=True)
    [finding] = result.leakage
    assert finding.feature == "review_code" and not finding.dropped
    assert "review_code" in result.model.features
    assert result.automl.metrics["roc_auc"] > 0.99
