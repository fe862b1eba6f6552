import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, expect, test, vi } from "vitest";
import { parseRows, toCsv } from "../api/models";
import { saveTokens } from "../api/session";
import { ModelPage } from "../pages/ModelPage";
import { ModelsPage } from "../pages/ModelsPage";
import { fakeApi, json, renderAs } from "./fakes";

beforeEach(() => saveTokens({ access_token: "acc", refresh_token: "ref" }));
afterEach(() => {
  vi.unstubAllGlobals();
  saveTokens(null);
});

const item = {
  model_id: "m-1",
  analysis_id: "j-1",
  dataset_id: "d-1",
  dataset_name: "penguins-raw.csv",
  target: "Species",
  task: "multiclass",
  best_model: "WeightedEnsemble_L2",
  metric: { name: "accuracy", value: 0.97059 },
  created_at: "2026-12-01T10:00:00Z",
};

const card = {
  ...item,
  eval_metric: "accuracy",
  features: ["Culmen Length (mm)", "Island"],
  input_columns: [
    { name: "Culmen Length (mm)", type: "Float64" },
    { name: "Island", type: "String" },
  ],
  leaderboard: [
    { model: "ExtraTrees", score_holdout: 0.95, score_val: 0.97, fit_time_s: 0.6, predict_time_s: 0.1, is_best: false },
    { model: "WeightedEnsemble_L2", score_holdout: 0.97059, score_val: 0.99, fit_time_s: 1.2, predict_time_s: 0.1, is_best: true },
  ],
  metrics: { accuracy: 0.97059, f1_macro: 0.969 },
  confusion_matrix: null,
  train_rows: 276,
  holdout_rows: 68,
  feature_importance: [{ feature: "Island", importance: 0.098, std: 0.017, p_value: 0.005 }],
  shap_importance: null,
  class_labels: ["Adelie", "Gentoo"],
  example_rows: [
    { "Culmen Length (mm)": 39.2, Island: "Biscoe, south" },
    { "Culmen Length (mm)": 48.5, Island: "Dream" },
  ],
  available: true,
};

const predictions = {
  model_id: "m-1",
  model: "WeightedEnsemble_L2",
  task_type: "multiclass",
  target: "Species",
  explained_by: "LightGBMXT",
  shap_output: "log-odds",
  drift: [],
  rows: [
    { prediction: "Adelie", probabilities: { Adelie: 0.9, Gentoo: 0.1 }, contributions: { Island: 0.7, "Culmen Length (mm)": -0.2 }, base_value: -0.5 },
    { prediction: "Gentoo", probabilities: { Adelie: 0.2, Gentoo: 0.8 }, contributions: { Island: -0.4, "Culmen Length (mm)": 0.9 }, base_value: -0.6 },
  ],
};

test("the models table links each model to its page and shows what it predicts and how well", async () => {
  const { calls } = fakeApi({ "GET /api/v1/models": () => json({ data: { items: [item], total: 1, limit: 20, offset: 0 } }) });
  render(<ModelsPage />);
  const link = await screen.findByRole("link", { name: "penguins-raw.csv" });
  expect(link).toHaveAttribute("href", "#/models/m-1");
  const row = link.closest("tr")!;
  expect(within(row).getByText("Species")).toBeInTheDocument();
  expect(within(row).getByText("multiclass")).toBeInTheDocument();
  expect(within(row).getByText("WeightedEnsemble_L2")).toBeInTheDocument();
  expect(within(row).getByText("accuracy 0.971")).toBeInTheDocument();
  expect(calls[0].search).toBe("?limit=20&offset=0");
});

test("no models yet says how to get one; an error says what went wrong", async () => {
  fakeApi({ "GET /api/v1/models": () => json({ data: { items: [], total: 0, limit: 20, offset: 0 } }) });
  render(<ModelsPage />);
  expect(await screen.findByText(/No models yet/)).toBeInTheDocument();
});

test("the model page shows the leaderboard with the best marked in text, the metrics and the features", async () => {
  fakeApi({ "GET /api/v1/models/m-1": () => json({ data: card }) });
  renderAs("analyst", <ModelPage id="m-1" />);
  expect(await screen.findByRole("heading", { name: "Model predicting Species" })).toBeInTheDocument();
  const board = screen.getByRole("table", { name: /Models AutoML trained/ });
  const best = within(board).getByRole("row", { name: /WeightedEnsemble_L2/ });
  expect(best).toHaveTextContent("★ Best model");
  expect(within(board).getByRole("row", { name: /ExtraTrees/ })).not.toHaveTextContent("Best model");
  expect(screen.getByText("accuracy (main)")).toBeInTheDocument();
  expect(screen.getByText("0.971", { selector: "dd" })).toBeInTheDocument();
  expect(screen.getByRole("table", { name: /Permutation importance/ })).toHaveTextContent("Island0.0980 ± 0.0170");
  expect(screen.getByRole("link", { name: "penguins-raw.csv" })).toHaveAttribute("href", "#/datasets/d-1");
  expect(screen.getByRole("link", { name: "j-1" })).toHaveAttribute("href", "#/analysis/j-1");
  // the example rows, as CSV a person can edit (a value with a comma is quoted)
  expect(screen.getByLabelText("Rows")).toHaveValue('Culmen Length (mm),Island\n39.2,"Biscoe, south"\n48.5,Dream');
});

test("predict sends the pasted CSV with explain=true and shows each prediction with its waterfall", async () => {
  const user = userEvent.setup();
  const { calls } = fakeApi({
    "GET /api/v1/models/m-1": () => json({ data: card }),
    "POST /api/v1/models/m-1/predict": () => json({ data: predictions }),
  });
  renderAs("analyst", <ModelPage id="m-1" />);
  const rows = await screen.findByLabelText("Rows");
  await user.clear(rows);
  await user.type(rows, "Culmen Length (mm),Island\n40,Torgersen\n50,Biscoe");
  await user.click(screen.getByRole("button", { name: "Predict" }));
  expect(await screen.findByText("2 predictions of Species")).toBeInTheDocument();
  const call = calls.find((s) => s.method === "POST")!;
  expect(call.search).toBe("?explain=true");
  expect(call.headers.get("Content-Type")).toBe("text/csv");
  expect(call.body).toBe("Culmen Length (mm),Island\n40,Torgersen\n50,Biscoe\n");
  expect(call.headers.get("Authorization")).toBe("Bearer acc");
  expect(screen.getAllByTestId("prediction").map((c) => c.textContent)).toEqual(["Adelie", "Gentoo"]);
  const table = screen.getByRole("table", { name: "Predictions, one per row sent" });
  expect(within(table).getAllByRole("row")[1]).toHaveTextContent("90.0%10.0%");
  const charts = screen.getAllByRole("img");
  expect(charts).toHaveLength(2);
  expect(charts[0].getAttribute("aria-label")).toContain("from the base value −0.5 to 0 log-odds (prediction Adelie)");
  expect(charts[1].getAttribute("aria-label")).toContain("the largest contribution is Culmen Length (mm) +0.9");
});

test("JSON rows go as JSON; the API's plain-words error is shown", async () => {
  const user = userEvent.setup();
  const { calls } = fakeApi({
    "GET /api/v1/models/m-1": () => json({ data: card }),
    "POST /api/v1/models/m-1/predict": () =>
      json({ errors: [{ code: "invalid_rows", message: "The rows do not fit the model's pipeline: bad type", field: "rows" }] }, 422),
  });
  renderAs("admin", <ModelPage id="m-1" />);
  const rows = await screen.findByLabelText("Rows");
  await user.clear(rows);
  await user.click(rows);
  await user.paste('[{"Island": "Dream", "Culmen Length (mm)": "long"}]');
  await user.click(screen.getByRole("button", { name: "Predict" }));
  expect(await screen.findByRole("alert")).toHaveTextContent("The rows do not fit the model's pipeline: bad type");
  const call = calls.find((s) => s.method === "POST")!;
  expect(call.headers.get("Content-Type")).toBe("application/json");
  expect(call.body).toEqual({ rows: [{ Island: "Dream", "Culmen Length (mm)": "long" }] });
  expect(screen.queryByRole("img")).not.toBeInTheDocument();
});

test("rows that are neither CSV nor JSON objects are refused before anything is sent", async () => {
  const user = userEvent.setup();
  const { calls } = fakeApi({ "GET /api/v1/models/m-1": () => json({ data: card }) });
  renderAs("analyst", <ModelPage id="m-1" />);
  const rows = await screen.findByLabelText("Rows");
  await user.clear(rows);
  await user.click(rows);
  await user.paste("[1, 2]");
  await user.click(screen.getByRole("button", { name: "Predict" }));
  expect(await screen.findByRole("alert")).toHaveTextContent("The JSON must be an array of objects");
  expect(calls.filter((s) => s.method === "POST")).toHaveLength(0);
});

test("a CSV file chosen in Rows file (CSV) is what predict sends", async () => {
  const user = userEvent.setup();
  const { calls } = fakeApi({
    "GET /api/v1/models/m-1": () => json({ data: card }),
    "POST /api/v1/models/m-1/predict": () => json({ data: { ...predictions, rows: predictions.rows.slice(0, 1) } }),
  });
  renderAs("analyst", <ModelPage id="m-1" />);
  const file = new File(["Island\nDream\n"], "rows.csv", { type: "text/csv" });
  await user.upload(await screen.findByLabelText("Rows file (CSV)"), file);
  expect(screen.getByLabelText("Rows")).toBeDisabled();
  await user.click(screen.getByRole("button", { name: "Predict" }));
  expect(await screen.findByText("1 prediction of Species")).toBeInTheDocument();
  expect(calls.find((s) => s.method === "POST")!.body).toBe("Island\nDream\n");
});

test("a viewer sees the card but no Predict button", async () => {
  fakeApi({ "GET /api/v1/models/m-1": () => json({ data: card }) });
  renderAs("viewer", <ModelPage id="m-1" />);
  expect(await screen.findByRole("heading", { name: "Model predicting Species" })).toBeInTheDocument();
  expect(screen.queryByRole("button", { name: "Predict" })).not.toBeInTheDocument();
  expect(screen.getByText(/can read models but not predict/)).toBeInTheDocument();
});

test("a model of another organisation reads as missing", async () => {
  fakeApi({
    "GET /api/v1/models/m-9": () => json({ errors: [{ code: "not_found", message: "No model has the id m-9." }] }, 404),
  });
  renderAs("admin", <ModelPage id="m-9" />);
  expect(await screen.findByRole("alert")).toHaveTextContent("No model has the id m-9.");
});

test("parseRows and toCsv", () => {
  expect(parseRows('{"rows": [{"a": 1}]}')).toEqual({ kind: "json", rows: [{ a: 1 }] });
  expect(parseRows("a,b\r\n1,2\r\n\r\n")).toEqual({ kind: "csv", text: "a,b\n1,2\n" });
  expect(() => parseRows("a,b")).toThrow("header line and at least one row");
  expect(() => parseRows("[{")).toThrow("not valid JSON");
  expect(() => parseRows("  ")).toThrow("Paste rows first");
  expect(toCsv([{ a: 'say "hi"', b: null }, { b: true }])).toBe('a,b\n"say ""hi""",\n,true');
});

test("an error metric's leaderboard shows positive scores and says lower is better, the best model first", async () => {
  const regression = {
    ...card,
    task: "regression",
    target: "price",
    eval_metric: "root_mean_squared_error",
    metric: { name: "root_mean_squared_error", value: 618.87 },
    class_labels: null,
    leaderboard: [
      { model: "LightGBMXT", score_holdout: -618.87, score_val: -585.48, fit_time_s: 7.5, predict_time_s: 0.2, is_best: false },
      { model: "WeightedEnsemble_L2", score_holdout: -618.87, score_val: -585.48, fit_time_s: 7.6, predict_time_s: 0.2, is_best: true },
      { model: "KNN", score_holdout: -1200.5, score_val: -1150, fit_time_s: 0.3, predict_time_s: 0.1, is_best: false },
    ],
  };
  fakeApi({ "GET /api/v1/models/m-1": () => json({ data: regression }) });
  renderAs("analyst", <ModelPage id="m-1" />);
  const board = await screen.findByRole("table", { name: /root_mean_squared_error, lower is better/ });
  const rows = within(board).getAllByRole("row").slice(1);
  expect(rows[0]).toHaveTextContent("WeightedEnsemble_L2");
  expect(rows[0]).toHaveTextContent("618.870585.480");
  expect(within(board).getByRole("row", { name: /KNN/ })).toHaveTextContent("1200.5001150.000");
  expect(board).not.toHaveTextContent("-");
  expect(screen.getByText(/Scores are root_mean_squared_error, lower is better/)).toBeInTheDocument();
});

test("an entry's own direction and natural-unit score win over the metric's name", async () => {
  const reported = {
    ...card,
    eval_metric: "pinball_custom",
    leaderboard: [
      { model: "CatBoost", score_holdout: -3.5, score_val: -3.1, fit_time_s: 1, predict_time_s: 0.1, is_best: true,
        metric: "pinball_custom", higher_is_better: false, score: 3.25 },
    ],
  };
  fakeApi({ "GET /api/v1/models/m-1": () => json({ data: reported }) });
  renderAs("analyst", <ModelPage id="m-1" />);
  const board = await screen.findByRole("table", { name: /pinball_custom, lower is better/ });
  expect(within(board).getByRole("row", { name: /CatBoost/ })).toHaveTextContent("3.2503.100");
});
