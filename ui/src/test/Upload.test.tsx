import { act, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, expect, test, vi } from "vitest";
import { saveTokens } from "../api/session";
import { namesInHead, UploadPage } from "../pages/UploadPage";
import { FakeSocket, FakeXhr, renderAs } from "./fakes";

afterEach(() => {
  vi.unstubAllGlobals();
  saveTokens(null);
  FakeXhr.last = null;
});

function bars() {
  return screen.getAllByRole("progressbar").map((bar) => bar.getAttribute("aria-valuenow"));
}

function setUp() {
  saveTokens({ access_token: "acc", refresh_token: "ref" });
  vi.stubGlobal("XMLHttpRequest", FakeXhr);
  vi.stubGlobal("WebSocket", FakeSocket);
}

const csv = () => new File(["Species,Island,Sample Number\nAdelie,Biscoe,1\n"], "penguins.csv", { type: "text/csv" });

test("choosing a file sends nothing until Upload; then bytes sent, then the job's stages up to the end", async () => {
  setUp();
  renderAs("analyst", <UploadPage />);
  await userEvent.upload(screen.getByLabelText("Data file"), csv());
  expect(FakeXhr.last).toBeNull();
  expect(screen.getByText(/Chosen: penguins.csv/)).toBeInTheDocument();
  await userEvent.click(screen.getByRole("button", { name: "Upload" }));

  const xhr = FakeXhr.last!;
  expect(xhr.url).toBe("/api/v1/upload");
  expect(xhr.headers.Authorization).toBe("Bearer acc");
  expect((xhr.body!.get("file") as File).name).toBe("penguins.csv");
  expect([...xhr.body!.keys()]).toEqual(["file"]); // no option chosen, none sent: no analysis starts
  act(() => xhr.progress(25, 100));
  expect(bars()).toEqual(["25"]);
  await act(async () => xhr.answer(201, { data: { dataset_id: "d1", job_id: "j1", status: "ingested", analysis_id: null } }));
  expect(bars()).toEqual(["100", "0"]);

  const socket = FakeSocket.last!;
  expect(socket.url).toContain("/api/v1/ws?job_id=j1&token=acc");
  act(() => socket.push({ type: "upload.progress", stage: "profile", progress: 0.6, message: "profiling" }));
  expect(bars()).toEqual(["100", "60"]);
  expect(screen.getByText("Processing (profile)")).toBeInTheDocument();
  act(() => socket.push({ type: "upload.progress", stage: "profile", progress: 1.0, message: "profiled", status: "completed" }));
  expect(bars()).toEqual(["100", "100"]);
  expect(screen.getByRole("link", { name: "Open the dataset" })).toHaveAttribute("href", "#/datasets/d1");
  expect(screen.getByRole("link", { name: "See it in the datasets" })).toHaveAttribute("href", "#/datasets");
  expect(screen.queryByRole("link", { name: "Open the analysis" })).toBeNull();
});

test("target, time budget, type overrides and the bad-rows policy go with the file; the analysis gets its link", async () => {
  setUp();
  renderAs("analyst", <UploadPage />);
  await userEvent.upload(screen.getByLabelText("Data file"), csv());
  await userEvent.type(screen.getByLabelText("Target"), "Species");
  await userEvent.type(screen.getByLabelText("Time budget (seconds)"), "15");
  await userEvent.click(screen.getByRole("button", { name: "Add a type override" }));
  await userEvent.type(screen.getByLabelText("Column 1"), "Sample Number");
  await userEvent.selectOptions(screen.getByLabelText("Type of column 1"), "identifier");
  await userEvent.click(screen.getByRole("button", { name: "Add a type override" }));
  await userEvent.click(screen.getByRole("button", { name: "Remove type override 2" }));
  await userEvent.click(screen.getByLabelText(/Skip rows with the wrong number of fields/));
  await userEvent.click(screen.getByRole("button", { name: "Upload" }));

  const form = FakeXhr.last!.body!;
  expect(form.get("target")).toBe("Species");
  expect(form.get("analyze")).toBeNull();
  expect(JSON.parse(String(form.get("options")))).toEqual({ time_budget_s: 15 });
  expect(JSON.parse(String(form.get("ingest_options")))).toEqual({
    type_overrides: { "Sample Number": "identifier" },
    bad_rows: "skip",
  });
  await act(async () =>
    FakeXhr.last!.answer(201, { data: { dataset_id: "d1", job_id: "a1", status: "ingested", analysis_id: "a1" } }),
  );
  const socket = FakeSocket.last!;
  // the upload's part of an analysis ends with the profile (35% of the whole job)
  act(() => socket.push({ type: "analysis.progress", stage: "profile", progress: 0.2, message: "profiling" }));
  expect(bars()).toEqual(["100", "57"]);
  expect(screen.queryByRole("link", { name: "Open the analysis" })).toBeNull();
  act(() => socket.push({ type: "analysis.progress", stage: "etl", progress: 0.35, message: "profiled" }));
  expect(bars()).toEqual(["100", "100"]);
  expect(socket.closed).toBe(true);
  expect(screen.getByRole("link", { name: "Open the analysis" })).toHaveAttribute("href", "#/analysis/a1");
});

test("the unsupervised task starts an analysis without a target", async () => {
  setUp();
  renderAs("analyst", <UploadPage />);
  await userEvent.upload(screen.getByLabelText("Data file"), csv());
  await userEvent.type(screen.getByLabelText("Target"), "Species");
  await userEvent.selectOptions(screen.getByLabelText("Task"), "unsupervised");
  expect(screen.getByLabelText("Target")).toBeDisabled();
  await userEvent.click(screen.getByRole("button", { name: "Upload" }));
  const form = FakeXhr.last!.body!;
  expect(form.get("analyze")).toBe("true");
  expect(form.get("target")).toBeNull();
});

test("the task select offers every task; a chosen task, excluded and ID columns go with the file", async () => {
  setUp();
  renderAs("analyst", <UploadPage />);
  const select = screen.getByLabelText("Task");
  expect([...select.querySelectorAll("option")].map((o) => o.getAttribute("value"))).toEqual([
    "",
    "binary",
    "multiclass",
    "regression",
    "forecast",
    "unsupervised",
  ]);
  await userEvent.upload(screen.getByLabelText("Data file"), csv());
  await userEvent.type(screen.getByLabelText("Target"), "Sample Number");
  await userEvent.selectOptions(select, "regression");
  expect(screen.getByLabelText("Target")).toBeEnabled();
  await userEvent.type(screen.getByLabelText("Leave out columns"), "Island, , Comments ");
  await userEvent.type(screen.getByLabelText("ID columns"), "Individual ID");
  await userEvent.click(screen.getByRole("button", { name: "Upload" }));
  const form = FakeXhr.last!.body!;
  expect(form.get("target")).toBe("Sample Number");
  expect(form.get("task")).toBe("regression");
  expect(JSON.parse(String(form.get("options")))).toEqual({
    exclude_columns: ["Island", "Comments"],
    id_columns: ["Individual ID"],
  });
});

test("a task without a target still starts the analysis, and follows it past the profile", async () => {
  setUp();
  renderAs("analyst", <UploadPage />);
  await userEvent.upload(screen.getByLabelText("Data file"), csv());
  await userEvent.selectOptions(screen.getByLabelText("Task"), "forecast");
  await userEvent.click(screen.getByRole("button", { name: "Upload" }));
  const form = FakeXhr.last!.body!;
  expect(form.get("task")).toBe("forecast");
  expect(form.get("target")).toBeNull();
  await act(async () =>
    FakeXhr.last!.answer(201, { data: { dataset_id: "d1", job_id: "a1", status: "ingested", analysis_id: "a1" } }),
  );
  act(() => FakeSocket.last!.push({ type: "analysis.progress", stage: "etl", progress: 0.35, message: "profiled" }));
  expect(screen.getByRole("link", { name: "Open the analysis" })).toHaveAttribute("href", "#/analysis/a1");
});

test("a time budget that is no number of seconds is refused before anything is sent", async () => {
  setUp();
  renderAs("analyst", <UploadPage />);
  await userEvent.upload(screen.getByLabelText("Data file"), csv());
  await userEvent.type(screen.getByLabelText("Time budget (seconds)"), "99999");
  await userEvent.click(screen.getByRole("button", { name: "Upload" }));
  expect(screen.getByRole("alert")).toHaveTextContent("between 1 and 3600");
  expect(FakeXhr.last).toBeNull();
});

test("a rejected file shows the API's message in plain words, with the lines it names", async () => {
  setUp();
  renderAs("analyst", <UploadPage />);
  await userEvent.upload(screen.getByLabelText("Data file"), new File(["x"], "bad.csv"));
  await userEvent.click(screen.getByRole("button", { name: "Upload" }));
  const message = "2 row(s) have a different number of fields than the header (17). Fix them, or ingest again skipping bad rows.";
  await act(async () =>
    FakeXhr.last!.answer(422, {
      errors: [
        {
          code: "csv_ragged_rows",
          message,
          field: "file",
          details: { dataset_id: "d9", count: 2, expected_fields: 17, sample_line_numbers: [17, 42] },
        },
      ],
    }),
  );
  expect(screen.getByRole("alert")).toHaveTextContent(`${message} Lines: 17, 42.`);
  expect(screen.queryByRole("progressbar")).toBeNull();
});

test("a viewer is told uploads need another role, and gets no file input", () => {
  renderAs("viewer", <UploadPage />);
  expect(screen.getByText(/Uploading needs the analyst or admin role/)).toBeInTheDocument();
  expect(screen.queryByLabelText("Data file")).toBeNull();
  expect(screen.queryByRole("button", { name: "Upload" })).toBeNull();
});

test("the file chooser offers every format the platform reads, and a binary or JSON file suggests no columns", async () => {
  setUp();
  renderAs("analyst", <UploadPage />);
  const accept = screen.getByLabelText("Data file").getAttribute("accept")!.split(",");
  for (const ext of [".csv", ".parquet", ".arrow", ".xlsx", ".xls", ".ods", ".json", ".ndjson", ".gz", ".zst", ".bz2"]) {
    expect(accept).toContain(ext);
  }
  expect(namesInHead("Species,Island,Sample Number\nAdelie,Biscoe,1\n")).toEqual(["Species", "Island", "Sample Number"]);
  expect(namesInHead("PAR1\u0015\u0004\u0000\u0001rest")).toEqual([]);
  expect(namesInHead("\u001f\u008b\u0008\u0000\uFFFD\uFFFD")).toEqual([]);
  expect(namesInHead('[{"Species": "Adelie", "Island": "Biscoe"}]')).toEqual([]);
  expect(namesInHead('{"Species": "Adelie"}\n{"Species": "Gentoo"}\n')).toEqual([]);
});

test("a file being processed can be cancelled: the route is called, the stream stops and 'Cancelled' shows", async () => {
  setUp();
  const { fakeApi, json } = await import("./fakes");
  const api = fakeApi({
    "POST /api/v1/jobs/j1/cancel": () => json({ status: "success", data: { id: "j1", status: "cancelled" } }, 202),
  });
  renderAs("analyst", <UploadPage />);
  await userEvent.upload(screen.getByLabelText("Data file"), csv());
  await userEvent.click(screen.getByRole("button", { name: "Upload" }));
  await act(async () => FakeXhr.last!.answer(202, { data: { dataset_id: "d1", job_id: "j1", status: "uploaded" } }));
  const socket = FakeSocket.last!;
  act(() => socket.push({ type: "upload.progress", stage: "ingest", progress: 0.1, message: "reading" }));
  await userEvent.click(screen.getByRole("button", { name: "Cancel" }));
  expect(api.of("POST /api/v1/jobs/j1/cancel")).toHaveLength(1);
  expect(await screen.findByText(/^Cancelled\./)).toBeInTheDocument();
  expect(socket.closed).toBe(true);
  expect(screen.queryByRole("button", { name: "Cancel" })).toBeNull();
  expect(screen.queryByText("Done.")).toBeNull();
});

test("a job the server ends as cancelled (another tab) shows 'Cancelled', not a failure", async () => {
  setUp();
  renderAs("analyst", <UploadPage />);
  await userEvent.upload(screen.getByLabelText("Data file"), csv());
  await userEvent.click(screen.getByRole("button", { name: "Upload" }));
  await act(async () => FakeXhr.last!.answer(202, { data: { dataset_id: "d1", job_id: "j1", status: "uploaded" } }));
  act(() => FakeSocket.last!.push({ type: "job.cancelled", job_id: "j1", status: "cancelled", progress: 0.1 }));
  expect(screen.getByText(/^Cancelled\./)).toBeInTheDocument();
  expect(screen.queryByRole("alert")).toBeNull();
  expect(screen.queryByRole("button", { name: "Cancel" })).toBeNull();
});
