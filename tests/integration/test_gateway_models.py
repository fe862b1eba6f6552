"""GET /api/v1/models and GET /api/v1/models/{id}, against the real PostgreSQL: the organisation's models newest
first and paged, each model's card from its analysis document, pipeline and profile in the artifact store,
and another organisation's model answering 404 like a missing one."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from dsp_gateway.bootstrap import service_spec
from dsp_gateway.entrypoints.models import example_rows, input_columns, main_metric
from mesh_kit.artifacts import LocalArtifactStore
from mesh_kit.db import role_name, with_user
from mesh_kit.service import build_app, topology_of
from mesh_kit.settings import MeshSettings
from mesh_kit.topology import delete_topology
from shared_contracts.analysis import (
    AnalysisResult,
    AutoMLReport,
    Explanations,
    FeatureImportance,
    LeaderboardEntry,
    ModelMetadata,
    SamplingNote,
    TaskInfo,
)

from ..auth_helpers import ADMIN_EMAIL, ADMIN_PASSWORD, login, seed_user
from ..conftest import migrated_database

pytestmark = pytest.mark.integration

FEATURES = ["Culmen Length (mm)", "Island", "Date Egg__year", "Date Egg__month_sin"]
PIPELINE = {"input_schema": {"Culmen Length (mm)": "Float64", "Species": "String", "Island": "String",
                             "Date Egg": "Date", "Comments": "String", "Body Mass (g)": "Int64"}}
PROFILE = {"columns": [
    {"name": "Culmen Length (mm)", "semantic_type": "float", "numeric": {"p25": 39.225, "p75": 48.5}},
    {"name": "Island", "semantic_type": "categorical", "top_values": [{"value": "Biscoe", "count": 168},
                                                                      {"value": "Dream", "count": 124}]},
    {"name": "Date Egg", "semantic_type": "date", "dates": {"min": "2007-11-09T00:00:00",
                                                            "max": "2009-12-01T00:00:00"}},
    {"name": "Species", "semantic_type": "categorical", "top_values": [{"value": "Adelie", "count": 152}]},
]}


def _analysis(best: str, accuracy: float) -> AnalysisResult:
    return AnalysisResult(
        task=TaskInfo(task_type="multiclass", target="Species", target_source="given",
                      class_counts={"Gentoo": 124, "Adelie": 152, "Chinstrap": 68}),
        sampling=SamplingNote(total_rows=344), row_count=344, column_count=6,
        automl=AutoMLReport(eval_metric="accuracy", best_model=best, time_budget_s=10, fit_time_s=8, train_rows=276,
                            holdout_rows=68, features=FEATURES,
                            metrics={"accuracy": accuracy, "f1_macro": accuracy - 0.01},
                            leaderboard=[LeaderboardEntry(model="ExtraTrees", score_holdout=0.95, score_val=0.97),
                                         LeaderboardEntry(model=best, score_holdout=accuracy, score_val=0.99,
                                                          is_best=True)]),
        explanations=Explanations(permutation_importance=[
            FeatureImportance(feature="Island", importance=0.1, std=0.01, p_value=0.001),
            FeatureImportance(feature="Culmen Length (mm)", importance=0.05)]),
        model=ModelMetadata(best_model=best, task_type="multiclass", target="Species", features=FEATURES,
                            training_data_sha256="0" * 64, metrics={"accuracy": accuracy}),
    )


@dataclass
class Gateway:
    client: httpx.AsyncClient
    database_url: str
    store: LocalArtifactStore
    admin: dict[str, str]
    organization_id: str

    def execute(self, query: str, params: tuple[Any, ...] = ()) -> None:
        with psycopg.connect(self.database_url) as conn:
            conn.execute("SET search_path = gateway")
            conn.execute(query, params)

    def add_model(self, organization_id: str, *, name: str, analysis: AnalysisResult | None,
                  created: str, with_files: bool = True) -> str:
        """A dataset, its completed analysis and the model it registered, as the read model holds them."""
        dataset_id, job_id, model_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        results: dict[str, Any] = {"model_id": str(model_id)}
        if analysis is not None:
            results["analysis_result"] = self.store.put_bytes(
                f"jobs/{job_id}/analysis.json", analysis.model_dump_json().encode(),
                media_type="application/json").model_dump(mode="json")
        if with_files:
            results["pipeline"] = self.store.put_bytes(f"jobs/{job_id}/pipeline.json", json.dumps(PIPELINE).encode(),
                                                       media_type="application/json").model_dump(mode="json")
            results["profile"] = self.store.put_bytes(f"jobs/{job_id}/profile.json", json.dumps(PROFILE).encode(),
                                                      media_type="application/json").model_dump(mode="json")
        owner = uuid.uuid4()
        self.execute("INSERT INTO datasets (dataset_id, display_name, status, size_bytes, raw, upload_job_id,"
                     " organization_id, owner_id) VALUES (%s, %s, 'profiled', 10, '{}', %s, %s, %s)",
                     (dataset_id, name, job_id, organization_id, owner))
        self.execute("INSERT INTO jobs (job_id, kind, dataset_id, status, options, results, organization_id, owner_id)"
                     " VALUES (%s, 'analysis', %s, 'completed', %s, %s, %s, %s)",
                     (job_id, dataset_id, json.dumps({"analysis": {"target": "Species"}}), json.dumps(results),
                      organization_id, owner))
        self.execute("INSERT INTO models (model_id, job_id, dataset_id, organization_id, owner_id, created_at)"
                     " VALUES (%s, %s, %s, %s, %s, %s)", (model_id, job_id, dataset_id, organization_id, owner, created))
        return str(model_id)


@pytest.fixture(scope="module")
def gateway_database(infra) -> Iterator[str]:
    with migrated_database(infra, "models") as url:
        yield url


@pytest.fixture
async def gateway(infra, gateway_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Gateway]:
    suffix = uuid.uuid4().hex[:8]
    for name, value in {"DSP_REDIS_NAMESPACE": f"{infra.redis_namespace}-models-{suffix}",
                        "DSP_JWT_SECRET": "models-test-secret-" + "m" * 32,
                        "DSP_BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL, "DSP_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
                        "DSP_BOOTSTRAP_ORGANIZATION": "default"}.items():
        monkeypatch.setenv(name, value)
    root = tmp_path / "artifacts"
    settings = MeshSettings(
        environment="test", database_url=with_user(gateway_database, role_name("gateway")),
        amqp_url=infra.amqp_url, redis_url=infra.redis_url, artifact_url=root.as_uri(),
        exchange=f"dsp.events.models{suffix}", queue_prefix=f"models{suffix}", retry_delays_ms=(200, 400),
        outbox_poll_s=0.1, allowed_hosts=["gateway"], metrics_port=0,
    )
    app = build_app(service_spec(), settings)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://gateway",
            timeout=60) as client:
        admin = await login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
        me = (await client.get("/api/v1/me", headers=admin)).json()["data"]
        gw = Gateway(client=client, database_url=gateway_database, store=LocalArtifactStore(root), admin=admin,
                     organization_id=me["organization_id"])
        gw.execute("DELETE FROM models")
        yield gw
    await delete_topology(infra.amqp_url, topology_of(settings))


def _other_organization(gateway: Gateway) -> tuple[str, str]:
    """A user of another organisation: their e-mail, and that organisation's id."""
    email = f"other-{uuid.uuid4().hex[:8]}@example.com"
    seed_user(gateway.database_url, email, "another-long-password", role="admin", organization=f"other-{email}")
    with psycopg.connect(gateway.database_url) as conn:
        conn.execute("SET search_path = gateway")
        row = conn.execute("SELECT organization_id FROM users WHERE email = %s", (email,)).fetchone()
    assert row is not None
    return email, str(row[0])


async def test_the_list_holds_the_organisations_models_newest_first_and_paged(gateway: Gateway) -> None:
    older = gateway.add_model(gateway.organization_id, name="penguins-2025.csv", analysis=_analysis("LightGBM", 0.9),
                              created="2026-01-01T10:00:00Z")
    newer = gateway.add_model(gateway.organization_id, name="penguins-2026.csv",
                              analysis=_analysis("WeightedEnsemble_L2", 0.97), created="2026-06-01T10:00:00Z")
    email, other_org = _other_organization(gateway)
    foreign = gateway.add_model(other_org, name="secret.csv", analysis=_analysis("CatBoost", 0.8),
                                created="2026-07-01T10:00:00Z")

    listed = await gateway.client.get("/api/v1/models", headers=gateway.admin)
    assert listed.status_code == 200, listed.text
    page = listed.json()["data"]
    assert page["total"] == 2 and page["limit"] == 20 and page["offset"] == 0
    assert [item["model_id"] for item in page["items"]] == [newer, older]
    first = page["items"][0]
    assert first["dataset_name"] == "penguins-2026.csv"
    assert first["target"] == "Species" and first["task"] == "multiclass"
    assert first["best_model"] == "WeightedEnsemble_L2"
    assert first["metric"] == {"name": "accuracy", "value": 0.97}
    assert first["created_at"].startswith("2026-06-01T10:00:00")
    assert uuid.UUID(first["analysis_id"]) and uuid.UUID(first["dataset_id"])

    second = (await gateway.client.get("/api/v1/models?limit=1&offset=1", headers=gateway.admin)).json()["data"]
    assert [item["model_id"] for item in second["items"]] == [older] and second["total"] == 2

    theirs = await login(gateway.client, email, "another-long-password")
    their_page = (await gateway.client.get("/api/v1/models", headers=theirs)).json()["data"]
    assert [item["model_id"] for item in their_page["items"]] == [foreign]
    assert (await gateway.client.get("/api/v1/models?limit=101", headers=gateway.admin)).status_code == 422
    assert (await gateway.client.get("/api/v1/models")).status_code == 401


async def test_the_card_tells_what_the_model_predicts_how_well_and_from_which_columns(gateway: Gateway) -> None:
    model_id = gateway.add_model(gateway.organization_id, name="penguins.csv",
                                 analysis=_analysis("WeightedEnsemble_L2", 0.97), created="2026-06-01T10:00:00Z")
    viewer_email = f"viewer-{uuid.uuid4().hex[:8]}@example.com"
    seed_user(gateway.database_url, viewer_email, "a-viewer-password", role="viewer")
    viewer = await login(gateway.client, viewer_email, "a-viewer-password")  # reading a card needs no write role

    answered = await gateway.client.get(f"/api/v1/models/{model_id}", headers=viewer)
    assert answered.status_code == 200, answered.text
    card = answered.json()["data"]
    assert card["model_id"] == model_id and card["available"] is True
    assert card["task"] == "multiclass" and card["target"] == "Species" and card["eval_metric"] == "accuracy"
    assert card["features"] == FEATURES
    # the pipeline's input columns the features come from: not the target, nor the columns the model never uses
    assert card["input_columns"] == [{"name": "Culmen Length (mm)", "type": "Float64"},
                                     {"name": "Island", "type": "String"}, {"name": "Date Egg", "type": "Date"}]
    assert [(e["model"], e["is_best"]) for e in card["leaderboard"]] == [("ExtraTrees", False),
                                                                         ("WeightedEnsemble_L2", True)]
    assert card["metrics"] == {"accuracy": 0.97, "f1_macro": pytest.approx(0.96)}
    assert [f["feature"] for f in card["feature_importance"]] == ["Island", "Culmen Length (mm)"]
    assert card["class_labels"] == ["Adelie", "Chinstrap", "Gentoo"]
    assert card["train_rows"] == 276 and card["holdout_rows"] == 68
    assert card["example_rows"] == [
        {"Culmen Length (mm)": 39.225, "Island": "Biscoe", "Date Egg": "2007-11-09"},
        {"Culmen Length (mm)": 48.5, "Island": "Dream", "Date Egg": "2009-12-01"},
    ]
    with psycopg.connect(gateway.database_url) as conn:
        conn.execute("SET search_path = gateway")
        job_id, dataset_id = conn.execute("SELECT job_id, dataset_id FROM models WHERE model_id = %s",
                                          (model_id,)).fetchone() or (None, None)
    assert card["analysis_id"] == str(job_id) and card["dataset_id"] == str(dataset_id)


async def test_another_organisations_model_is_a_404_like_a_missing_one(gateway: Gateway) -> None:
    _, other_org = _other_organization(gateway)
    foreign = gateway.add_model(other_org, name="secret.csv", analysis=_analysis("CatBoost", 0.8),
                                created="2026-07-01T10:00:00Z")
    for model_id in (foreign, str(uuid.uuid4()), "not-a-uuid"):
        response = await gateway.client.get(f"/api/v1/models/{model_id}", headers=gateway.admin)
        assert response.status_code == 404, response.text
        assert response.json()["errors"][0]["code"] == "not_found"
        assert "secret.csv" not in response.text and "CatBoost" not in response.text


async def test_a_model_whose_documents_are_gone_still_lists_and_says_so(gateway: Gateway) -> None:
    model_id = gateway.add_model(gateway.organization_id, name="lost.csv", analysis=None, created="2026-06-01T10:00:00Z",
                                 with_files=False)
    item = (await gateway.client.get("/api/v1/models", headers=gateway.admin)).json()["data"]["items"][0]
    assert item["model_id"] == model_id and item["target"] == "Species"  # from the analysis' options
    assert item["task"] is None and item["best_model"] is None and item["metric"] is None
    card = (await gateway.client.get(f"/api/v1/models/{model_id}", headers=gateway.admin)).json()["data"]
    assert card["available"] is False and card["leaderboard"] == [] and card["example_rows"] == []


def test_the_main_metric_is_the_optimised_one_under_its_holdout_name() -> None:
    assert main_metric({"eval_metric": "root_mean_squared_error", "metrics": {"r2": 0.5, "rmse": 3.2}}) == {
        "name": "rmse", "value": 3.2}
    assert main_metric({"eval_metric": "roc_auc", "metrics": {},
                        "leaderboard": [{"model": "a", "score_holdout": 0.7},
                                        {"model": "b", "score_holdout": 0.8, "is_best": True}]}) == {
        "name": "roc_auc", "value": 0.8}
    assert main_metric(None) is None


def test_example_rows_need_a_profile_of_every_column() -> None:
    columns = input_columns(PIPELINE, ["Body Mass (g)", "a__x__Island"], "Species")
    assert columns == [{"name": "Island", "type": "String"}, {"name": "Body Mass (g)", "type": "Int64"}]
    assert example_rows(columns, PROFILE) == []  # Body Mass (g) has no profile here
    profile = {"columns": [*PROFILE["columns"], {"name": "Body Mass (g)", "numeric": {"p25": 3550.4, "p75": 4750.6}}]}
    assert example_rows(columns, profile) == [{"Island": "Biscoe", "Body Mass (g)": 3550},
                                              {"Island": "Dream", "Body Mass (g)": 4751}]


async def test_the_in_memory_read_model_lists_and_scopes_models_as_the_sql_does() -> None:
    from dsp_gateway.adapters.repository import InMemoryReadModel

    mine, theirs = uuid.uuid4(), uuid.uuid4()
    memory = InMemoryReadModel()
    ids = []
    for organization in (mine, mine, theirs):
        dataset_id, job_id, model_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        await memory.insert_dataset(dataset_id=dataset_id, display_name=f"d-{model_id.hex[:4]}.csv", size_bytes=1,
                                    raw={}, upload_job_id=job_id, organization_id=organization, owner_id=organization)
        await memory.insert_job(job_id=job_id, kind="analysis", dataset_id=dataset_id,
                                options={"analysis": {"target": "Species"}}, organization_id=organization,
                                owner_id=organization)
        memory.jobs[job_id]["results"] = {"analysis_result": {"key": "a"}, "pipeline": {"key": "p"}}
        await memory.insert_model(model_id=model_id, job_id=job_id, dataset_id=dataset_id)
        ids.append(model_id)
    rows, total = await memory.list_models(organization_id=mine, limit=20, offset=0)
    assert total == 2 and [r["model_id"] for r in rows] == [str(ids[1]), str(ids[0])]  # newest first
    assert rows[0]["target"] == "Species" and rows[0]["analysis_result"] == {"key": "a"}
    assert rows[0]["dataset_name"] == f"d-{ids[1].hex[:4]}.csv" and rows[0]["profile"] is None
    assert (await memory.list_models(organization_id=mine, limit=1, offset=1))[0][0]["model_id"] == str(ids[0])
    assert await memory.find_model_summary(ids[2], organization_id=mine) is None
    found = await memory.find_model_summary(ids[2], organization_id=theirs)
    assert found is not None and found["model_id"] == str(ids[2])
