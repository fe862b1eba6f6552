import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, expect, test, vi } from "vitest";
import { saveTokens } from "../api/session";
import { DatasetPage } from "../pages/DatasetPage";
import { fakeApi, json, renderAs } from "./fakes";

beforeEach(() => {
  saveTokens({ access_token: "acc", refresh_token: "ref" });
  location.hash = "";
});

afterEach(() => {
  vi.unstubAllGlobals();
  saveTokens(null);
});

const dataset = {
  dataset_id: "d1",
  display_name: "penguins-raw.csv",
  name: "penguins-raw.csv",
  status: "profiled",
  size_bytes: 1000,
  row_count: 344,
  columns: [
    { name: "Sample Number", semantic_type: "integer", physical_type: "Int64" },
    { name: "Species", semantic_type: "categorical", physical_type: "String" },
    { name: "Body Mass (g)", semantic_type: "float", physical_type: "Float64" },
  ],
  quality_score: 81.5,
  error: null,
  upload_job_id: "j1",
  created_at: "2026-12-01T10:00:00Z",
  updated_at: "2026-12-01T10:00:00Z",
};

const profile = {
  dataset: {
    rows: 344,
    columns: 3,
    cells: 1032,
    cells_missing: 12,
    cells_missing_fraction: 12 / 1032,
    duplicate_rows: 2,
    duplicate_fraction: 2 / 344,
  },
  columns: [],
  alerts: [
    { type: "MISSING", columns: ["Body Mass (g)"], severity: "warning", message: "2 values are missing.", evidence: {} },
  ],
  quality: {
    score: 81.5,
    components: [
      { name: "completeness", score: 98.8, weight: 0.3, detail: "12 of 1032 cells are missing" },
      { name: "uniqueness", score: 99.4, weight: 0.2, detail: "2 duplicate rows" },
    ],
  },
};

const report = {
  encoding: "utf-8",
  delimiter: ",",
  has_header: true,
  row_count: 344,
  columns: [],
  bad_rows: { count: 0, policy: "reject", sample: [] },
  validation: [
    {
      name: "mass is positive",
      kind: "range",
      columns: ["Body Mass (g)"],
      passed: false,
      failing_count: 3,
      sample_rows: [4, 9, 11],
      sample_lines: [6, 11, 13],
      sample_values: [-1, -2, -3],
      severity: "error",
      message: "3 rows break it",
    },
    {
      name: "species known",
      kind: "allowed_values",
      columns: ["Species"],
      passed: true,
      failing_count: 0,
      sample_rows: [],
      sample_lines: [],
      sample_values: [],
      severity: "warning",
      message: "",
    },
  ],
  warnings: ["Column 'Comments' is mostly empty."],
};

function fakes(extra: Parameters<typeof fakeApi>[0] = {}) {
  return fakeApi({
    "GET /api/v1/datasets/d1": () => json({ data: dataset }),
    "GET /api/v1/datasets/d1/profile": () => json(profile),
    "GET /api/v1/datasets/d1/ingest-report": () => json(report),
    ...extra,
  });
}

test("the page shows the schema, the profile with its quality parts, the alerts and the validation results", async () => {
  const api = fakes();
  renderAs("viewer", <DatasetPage id="d1" />);
  expect(await screen.findByRole("heading", { level: 1, name: "penguins-raw.csv" })).toBeInTheDocument();
  const schema = within(await screen.findByRole("table", { name: "Columns with their inferred types" }));
  expect(schema.getByRole("rowheader", { name: "Species" }).closest("tr")).toHaveTextContent("categorical");
  expect(schema.getByRole("rowheader", { name: "Sample Number" }).closest("tr")).toHaveTextContent("integer");

  const figures = within(await screen.findByRole("region", { name: "Profile" }));
  expect(figures.getByText("Rows").nextSibling).toHaveTextContent("344");
  expect(figures.getByText("Missing cells").nextSibling).toHaveTextContent("12 (1.2%)");
  expect(figures.getByText("Duplicate rows").nextSibling).toHaveTextContent("2 (0.6%)");
  expect(figures.getByText("Quality score").nextSibling).toHaveTextContent("81.5");
  const parts = within(figures.getByRole("table", { name: "The parts of the quality score" }));
  expect(parts.getByRole("rowheader", { name: "completeness" }).closest("tr")).toHaveTextContent("98.830.0%12 of 1032");
  expect(figures.getByText("Every figure of this profile is exact.")).toBeInTheDocument();

  expect(screen.getByRole("region", { name: "Alerts (1)" })).toHaveTextContent("warning · missing · Body Mass (g): 2 values are missing.");
  const rules = within(screen.getByRole("table", { name: "Validation rules and their results" }));
  const failing = rules.getByRole("rowheader", { name: "mass is positive" }).closest("tr")!;
  expect(failing).toHaveTextContent("failed");
  expect(failing).toHaveTextContent("6, 11, 13");
  expect(rules.getByRole("rowheader", { name: "species known" }).closest("tr")).toHaveTextContent("passed");
  expect(screen.getByText("Column 'Comments' is mostly empty.")).toBeInTheDocument();
  expect(api.calls.every((c) => c.method === "GET")).toBe(true);
});

const validation = {
  status: "failed",
  rows_checked: 344,
  rules_checked: 2,
  errors_failed: 1,
  warnings_failed: 0,
  rules: [
    {
      name: "Delta 15 N (o/oo) is not null",
      kind: "not_null",
      columns: ["Delta 15 N (o/oo)"],
      severity: "error",
      passed: false,
      failed_count: 14,
      failed_fraction: 14 / 344,
      sample_rows: [0, 3, 8],
      sample_lines: [2, 5, 10],
      sample_values: [null, null, null],
      message: "14 row(s) break Delta 15 N (o/oo) is not null.",
    },
    {
      name: "Species is not null",
      kind: "not_null",
      columns: ["Species"],
      severity: "warning",
      passed: true,
      failed_count: 0,
      failed_fraction: 0,
      sample_rows: [],
      sample_lines: [],
      sample_values: [],
      message: "All rows satisfy Species is not null.",
    },
  ],
};

test("a dataset that failed validation says so beside its status, with the counts from the API, and can be analysed", async () => {
  fakes({
    "GET /api/v1/datasets/d1": () => json({ data: { ...dataset, validation_status: "failed", validation } }),
    "GET /api/v1/datasets/d1/ingest-report": () => json({ errors: [{ code: "not_found", message: "gone" }] }, 404),
  });
  renderAs("analyst", <DatasetPage id="d1" />);
  const title = await screen.findByRole("heading", { level: 1, name: "penguins-raw.csv" });
  const header = within(title.closest("header")!);
  expect(header.getByText("profiled")).toBeInTheDocument();
  expect(header.getByText("failed validation")).toBeInTheDocument();

  const section = within(await screen.findByRole("region", { name: "Validation" }));
  expect(section.getByText("failed validation")).toBeInTheDocument();
  expect(
    section.getByText(
      "1 error rule and 0 warning rules broken, of 2 rules checked on 344 rows. The analysis still runs on every row; broken rules lower the quality score's validity.",
    ),
  ).toBeInTheDocument();
  const rules = within(section.getByRole("table", { name: "Validation rules and their results" }));
  const failing = rules.getByRole("rowheader", { name: "Delta 15 N (o/oo) is not null" }).closest("tr")!;
  expect(failing).toHaveTextContent("failed(error)");
  expect(failing).toHaveTextContent("14 (4.1%)");
  expect(failing).toHaveTextContent("2, 5, 10");
  expect(rules.getByRole("rowheader", { name: "Species is not null" }).closest("tr")).toHaveTextContent("passed");
  expect(screen.getByRole("button", { name: "Analyze" })).toBeEnabled(); // failing validation does not block
});

test("without rules there is no validation badge", async () => {
  fakes();
  renderAs("viewer", <DatasetPage id="d1" />);
  const title = await screen.findByRole("heading", { level: 1, name: "penguins-raw.csv" });
  expect(within(title.closest("header")!).queryByText(/validation/)).toBeNull();
});

test("a viewer gets no type selects, no Re-ingest and no Analyze", async () => {
  fakes();
  renderAs("viewer", <DatasetPage id="d1" />);
  await screen.findByRole("region", { name: "Profile" });
  expect(screen.queryByRole("combobox", { name: "Type of Species" })).toBeNull();
  expect(screen.queryByRole("button", { name: "Re-ingest" })).toBeNull();
  expect(screen.queryByRole("button", { name: "Analyze" })).toBeNull();
});

test("changing column types and Re-ingest reads the file again with those types, then opens the new dataset", async () => {
  const api = fakes({
    "POST /api/v1/datasets/d1/reingest": () =>
      json({ data: { dataset_id: "d2", job_id: "j2", status: "uploaded", source_dataset_id: "d1" } }, 202),
  });
  renderAs("analyst", <DatasetPage id="d1" />);
  const button = await screen.findByRole("button", { name: "Re-ingest" });
  expect(button).toBeDisabled(); // nothing changed yet
  await userEvent.selectOptions(screen.getByRole("combobox", { name: "Type of Sample Number" }), "identifier");
  await userEvent.selectOptions(screen.getByRole("combobox", { name: "Type of Species" }), "text");
  await userEvent.selectOptions(screen.getByRole("combobox", { name: "Type of Species" }), "categorical"); // back: unchanged
  expect(button).toBeEnabled();
  await userEvent.click(button);
  await waitFor(() => expect(location.hash).toBe("#/datasets/d2"));
  expect(api.of("POST /api/v1/datasets/d1/reingest")[0].body).toEqual({ type_overrides: { "Sample Number": "identifier" } });
});

test("Analyze posts the target and time budget, then goes to the analysis", async () => {
  const api = fakes({ "POST /api/v1/analyze": () => json({ data: { analysis_id: "a1", status: "queued" } }, 202) });
  renderAs("analyst", <DatasetPage id="d1" />);
  await userEvent.selectOptions(await screen.findByLabelText("Target"), "Species");
  const budget = screen.getByLabelText("Time budget (seconds)");
  await userEvent.clear(budget);
  await userEvent.type(budget, "20");
  await userEvent.click(screen.getByRole("button", { name: "Analyze" }));
  await waitFor(() => expect(location.hash).toBe("#/analysis/a1"));
  expect(api.of("POST /api/v1/analyze")[0].body).toEqual({
    dataset_id: "d1",
    target: "Species",
    options: { time_budget_s: 20 },
  });
});

test("a chosen task goes with the analysis request; Detect sends none", async () => {
  const api = fakes({ "POST /api/v1/analyze": () => json({ data: { analysis_id: "a1", status: "queued" } }, 202) });
  renderAs("analyst", <DatasetPage id="d1" />);
  await userEvent.selectOptions(await screen.findByLabelText("Target"), "Species");
  await userEvent.selectOptions(screen.getByLabelText("Task"), "multiclass");
  await userEvent.click(screen.getByRole("button", { name: "Analyze" }));
  await waitFor(() => expect(location.hash).toBe("#/analysis/a1"));
  expect(api.of("POST /api/v1/analyze")[0].body).toEqual({
    dataset_id: "d1",
    target: "Species",
    task: "multiclass",
    options: { time_budget_s: 60 },
  });
});

test("the unsupervised task sends no target; a refusal is shown in plain words", async () => {
  const api = fakes({
    "POST /api/v1/analyze": () =>
      json({ errors: [{ code: "too_many_analyses", message: "Your organisation already has 4 analyses running." }] }, 429),
  });
  renderAs("analyst", <DatasetPage id="d1" />);
  await userEvent.selectOptions(await screen.findByLabelText("Target"), "Species");
  await userEvent.selectOptions(screen.getByLabelText("Task"), "unsupervised");
  await userEvent.click(screen.getByRole("button", { name: "Analyze" }));
  expect(await screen.findByRole("alert")).toHaveTextContent("Your organisation already has 4 analyses running.");
  expect(api.of("POST /api/v1/analyze")[0].body).toMatchObject({ target: null, task: "unsupervised" });
  expect(location.hash).toBe("");
});

test("a rejected dataset says why, and a missing one says so", async () => {
  fakeApi({
    "GET /api/v1/datasets/d1": () =>
      json({ data: { ...dataset, status: "rejected", columns: null, row_count: null, error: { code: "csv_ragged_rows", message: "2 row(s) are ragged." } } }),
    "GET /api/v1/datasets/nope": () => json({ errors: [{ code: "not_found", message: "No dataset has the id nope." }] }, 404),
  });
  const { unmount } = renderAs("analyst", <DatasetPage id="d1" />);
  expect(await screen.findByRole("alert")).toHaveTextContent("2 row(s) are ragged.");
  expect(screen.getByText("rejected")).toBeInTheDocument();
  expect(screen.queryByRole("button", { name: "Analyze" })).toBeNull();
  unmount();
  renderAs("analyst", <DatasetPage id="nope" />);
  expect(await screen.findByRole("alert")).toHaveTextContent("No dataset has the id nope.");
});

test("while the file is being profiled the page shows the schema and asks for no profile yet", async () => {
  const api = fakes({ "GET /api/v1/datasets/d1": () => json({ data: { ...dataset, status: "ingested" } }) });
  renderAs("viewer", <DatasetPage id="d1" />);
  const schema = within(await screen.findByRole("table", { name: "Columns with their inferred types" }));
  expect(schema.getByRole("rowheader", { name: "Species" })).toBeInTheDocument();
  expect(screen.queryByRole("region", { name: "Profile" })).not.toBeInTheDocument();
  expect(api.of("GET /api/v1/datasets/d1/profile")).toHaveLength(0);
});

test("a profile of a large file says which figures are estimated, by what method and within what bound", async () => {
  const estimated = {
    ...profile,
    approximations: [
      {
        statistic: "distinct",
        method: "HyperLogLog sketch (lg_k 12)",
        error_bound: "within 3.3% of the true count at 95% confidence",
        columns: ["Species", "Body Mass (g)"],
        relative_error: 0.033,
        confidence: 0.95,
      },
      { statistic: "correlations", method: "uniform sample of 100,000 rows", error_bound: "±0.01 at 95%", columns: [] },
    ],
  };
  fakes({ "GET /api/v1/datasets/d1/profile": () => json(estimated) });
  renderAs("viewer", <DatasetPage id="d1" />);
  const table = within(await screen.findByRole("table", { name: "Figures estimated rather than counted, and how far off they can be" }));
  const distinct = table.getByRole("rowheader", { name: "distinct" }).closest("tr")!;
  expect(distinct).toHaveTextContent("Species, Body Mass (g)");
  expect(distinct).toHaveTextContent("HyperLogLog sketch (lg_k 12)");
  expect(distinct).toHaveTextContent("within 3.3% of the true count at 95% confidence");
  expect(table.getByRole("rowheader", { name: "correlations" }).closest("tr")).toHaveTextContent("all");
  expect(screen.queryByText("Every figure of this profile is exact.")).not.toBeInTheDocument();
});
