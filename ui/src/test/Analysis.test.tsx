import { act, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, expect, test, vi } from "vitest";
import { saveTokens } from "../api/session";
import { AnalysisPage } from "../pages/AnalysisPage";
import { FakeSocket, fakeApi, json, renderAs } from "./fakes";

beforeEach(() => {
  saveTokens({ access_token: "acc", refresh_token: "ref" });
  FakeSocket.all = [];
  FakeSocket.last = null;
  vi.stubGlobal("WebSocket", FakeSocket);
});

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
  saveTokens(null);
});

const base = {
  id: "a1",
  kind: "analysis",
  dataset_id: "d1",
  stage: "ml",
  options: {},
  error: null,
  dashboard_id: null,
  model_id: null,
  quality_score: 80,
  created_at: "2026-12-01T10:00:00Z",
  updated_at: "2026-12-01T10:00:00Z",
};
const running = { ...base, status: "running", progress: 0.5 };
const completed = {
  ...base,
  status: "completed",
  stage: "dashboard",
  progress: 1,
  dashboard_id: "b1",
  model_id: "m1",
  results: { task: { task_type: "multiclass", target: "Species", reason: "Species has 3 classes." } },
};
const viewLink = (n: number) => () =>
  json({ data: { url: `/api/v1/views/dashboards/b1?token=t${n}`, expires_in: 300, expires_at: Date.now() / 1000 + 300 } });

test("a running analysis shows its live progress, then the dashboard in a sandboxed frame and a new-tab link", async () => {
  const api = fakeApi({
    "GET /api/v1/analysis/a1": [() => json({ data: running }), () => json({ data: completed })],
    "POST /api/v1/dashboard/b1/view-link": viewLink(1),
    "GET /api/v1/dashboard/b1": () => json({ data: { dashboard_id: "b1", has_pdf: false } }),
  });
  renderAs("viewer", <AnalysisPage id="a1" />);
  const bar = await screen.findByRole("progressbar");
  expect(bar).toHaveAttribute("aria-valuenow", "50");
  const socket = FakeSocket.last!;
  expect(socket.url).toContain("/api/v1/ws?job_id=a1&token=acc");
  act(() => socket.push({ type: "analysis.progress", stage: "ml", progress: 0.7, message: "training" }));
  expect(screen.getByRole("progressbar")).toHaveAttribute("aria-valuenow", "70");
  expect(screen.getByText("Analysing (ml)")).toBeInTheDocument();
  act(() => socket.push({ type: "dashboard.ready", dashboard_id: "b1", progress: 1, status: "completed" }));

  const frame = await screen.findByTitle("Dashboard");
  expect(frame.tagName).toBe("IFRAME");
  expect(frame).toHaveAttribute("src", "/api/v1/views/dashboards/b1?token=t1");
  expect(frame.getAttribute("sandbox")).toBe("allow-scripts"); // never allow-same-origin
  const open = screen.getByRole("link", { name: "Open dashboard" });
  expect(open).toHaveAttribute("href", "/api/v1/views/dashboards/b1?token=t1");
  expect(open).toHaveAttribute("target", "_blank");
  expect(open.getAttribute("rel")).toContain("noopener");
  expect(screen.queryByRole("progressbar")).toBeNull();
  expect(screen.getByText("Task: multiclass of Species")).toBeInTheDocument();
  expect(screen.getByRole("link", { name: "Open the model" })).toHaveAttribute("href", "#/models/m1");
  expect(api.of("POST /api/v1/dashboard/b1/view-link")[0].headers.get("Authorization")).toBe("Bearer acc");
  expect(screen.queryByRole("button", { name: /PDF/ })).toBeNull(); // no PDF was rendered
});

test("the link gets a fresh token before it expires; the frame keeps its page", async () => {
  vi.useFakeTimers({ shouldAdvanceTime: true });
  let n = 0;
  fakeApi({
    "GET /api/v1/analysis/a1": () => json({ data: completed }),
    "POST /api/v1/dashboard/b1/view-link": () => viewLink(++n)(),
    "GET /api/v1/dashboard/b1": () => json({ data: { has_pdf: true } }),
  });
  renderAs("viewer", <AnalysisPage id="a1" />);
  expect(await screen.findByRole("link", { name: "Open dashboard" })).toHaveAttribute("href", expect.stringContaining("token=t1"));
  await act(async () => {
    await vi.advanceTimersByTimeAsync(280_000);
  });
  await waitFor(() => expect(screen.getByRole("link", { name: "Open dashboard" })).toHaveAttribute("href", expect.stringContaining("token=t2")));
  expect(screen.getByTitle("Dashboard")).toHaveAttribute("src", expect.stringContaining("token=t1"));
  expect(screen.getByRole("button", { name: /Report \(PDF\)/ })).toBeInTheDocument();
  expect(FakeSocket.all).toHaveLength(0); // a finished analysis needs no stream
});

test("when the stream is lost the page polls the analysis until it completes", async () => {
  const api = fakeApi({
    "GET /api/v1/analysis/a1": [() => json({ data: running }), () => json({ data: { ...running, progress: 0.9 } }), () => json({ data: completed })],
    "POST /api/v1/dashboard/b1/view-link": viewLink(1),
    "GET /api/v1/dashboard/b1": () => json({ data: { has_pdf: false } }),
  });
  renderAs("viewer", <AnalysisPage id="a1" />);
  await screen.findByRole("progressbar");
  act(() => FakeSocket.last!.drop());
  expect(await screen.findByTitle("Dashboard", undefined, { timeout: 8000 })).toBeInTheDocument();
  expect(api.of("GET /api/v1/analysis/a1").length).toBeGreaterThanOrEqual(3);
}, 10_000);

test("a failed analysis says why in plain words", async () => {
  fakeApi({
    "GET /api/v1/analysis/a1": () =>
      json({
        data: { ...base, status: "failed", progress: 0.5, error: { code: "target_one_class", message: "The target has only one class." } },
      }),
  });
  renderAs("viewer", <AnalysisPage id="a1" />);
  expect(await screen.findByRole("alert")).toHaveTextContent("The analysis failed: The target has only one class.");
  expect(screen.queryByTitle("Dashboard")).toBeNull();
  expect(screen.getByText("failed")).toBeInTheDocument();
});

test("a download fetches the export with the session and saves it from a blob URL", async () => {
  const api = fakeApi({
    "GET /api/v1/analysis/a1": () => json({ data: completed }),
    "POST /api/v1/dashboard/b1/view-link": viewLink(1),
    "GET /api/v1/dashboard/b1": () => json({ data: { has_pdf: false } }),
    "POST /api/v1/export": () =>
      new Response("a,b\n1,2\n", { headers: { "Content-Type": "text/csv", "Content-Disposition": 'attachment; filename="cleaned.csv"' } }),
  });
  const created = vi.fn((_blob: Blob) => "blob:http://localhost/x");
  vi.stubGlobal("URL", Object.assign(URL, { createObjectURL: created, revokeObjectURL: vi.fn() }));
  const saved: { href: string; download: string }[] = [];
  vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(function (this: HTMLAnchorElement) {
    saved.push({ href: this.href, download: this.download });
  });
  renderAs("viewer", <AnalysisPage id="a1" />);
  await userEvent.click(await screen.findByRole("button", { name: /Cleaned data \(CSV\)/ }));
  expect(await screen.findByText("Saved cleaned.csv.")).toBeInTheDocument();
  const call = api.of("POST /api/v1/export")[0];
  expect(call.body).toEqual({ analysis_id: "a1", format: "csv" });
  expect(call.headers.get("Authorization")).toBe("Bearer acc");
  expect(await created.mock.calls[0][0].text()).toBe("a,b\n1,2\n");
  expect(saved).toEqual([{ href: "blob:http://localhost/x", download: "cleaned.csv" }]);
});

test("a refused download says why", async () => {
  fakeApi({
    "GET /api/v1/analysis/a1": () => json({ data: completed }),
    "POST /api/v1/dashboard/b1/view-link": viewLink(1),
    "GET /api/v1/dashboard/b1": () => json({ data: { has_pdf: false } }),
    "POST /api/v1/export": () => json({ errors: [{ code: "export_gone", message: "The stored result is no longer available." }] }, 410),
  });
  renderAs("viewer", <AnalysisPage id="a1" />);
  await userEvent.click(await screen.findByRole("button", { name: /Cleaned data \(Parquet\)/ }));
  expect(await screen.findByRole("alert")).toHaveTextContent("The stored result is no longer available.");
});

test("an analyst cancels a running analysis: the route is called and the page says Cancelled", async () => {
  const api = fakeApi({
    "GET /api/v1/analysis/a1": () => json({ data: running }),
    "POST /api/v1/jobs/a1/cancel": () => json({ status: "success", data: { ...running, status: "cancelled" } }, 202),
  });
  renderAs("analyst", <AnalysisPage id="a1" />);
  await screen.findByRole("progressbar");
  await userEvent.click(screen.getByRole("button", { name: "Cancel" }));
  expect(api.of("POST /api/v1/jobs/a1/cancel")).toHaveLength(1);
  expect(await screen.findByText(/^Cancelled\./)).toBeInTheDocument();
  expect(screen.getByText("cancelled")).toBeInTheDocument(); // the status badge
  expect(screen.queryByRole("progressbar")).toBeNull();
});

test("a viewer sees no Cancel button", async () => {
  fakeApi({ "GET /api/v1/analysis/a1": () => json({ data: running }) });
  renderAs("viewer", <AnalysisPage id="a1" />);
  await screen.findByRole("progressbar");
  expect(screen.queryByRole("button", { name: "Cancel" })).toBeNull();
});

test("cancelling an analysis that has just ended shows the API's reason", async () => {
  fakeApi({
    "GET /api/v1/analysis/a1": () => json({ data: running }),
    "POST /api/v1/jobs/a1/cancel": () =>
      json({ status: "error", data: null, errors: [{ code: "job_not_running", message: "The job has ended already (completed); there is nothing to cancel." }] }, 409),
  });
  renderAs("analyst", <AnalysisPage id="a1" />);
  await screen.findByRole("progressbar");
  await userEvent.click(screen.getByRole("button", { name: "Cancel" }));
  expect(await screen.findByRole("alert")).toHaveTextContent("has ended already");
});

test("a cancelled analysis loads as Cancelled, without a stream", async () => {
  fakeApi({ "GET /api/v1/analysis/a1": () => json({ data: { ...running, status: "cancelled" } }) });
  renderAs("viewer", <AnalysisPage id="a1" />);
  expect(await screen.findByText(/^Cancelled\./)).toBeInTheDocument();
  expect(FakeSocket.last).toBeNull();
});
