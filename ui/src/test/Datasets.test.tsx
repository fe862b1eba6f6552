import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, expect, test, vi } from "vitest";
import { loadTokens, saveTokens } from "../api/session";
import { DatasetsPage } from "../pages/DatasetsPage";
import { fakeApi, json, renderAs } from "./fakes";

afterEach(() => {
  vi.unstubAllGlobals();
  saveTokens(null);
});

const item = (id: string, name: string) => ({
  dataset_id: id,
  display_name: name,
  status: "profiled",
  size_bytes: 1000,
  row_count: 344,
  column_count: 17,
  quality_score: 87.25,
  created_at: "2026-12-01T10:00:00Z",
});

const page = (items = [item("d1", "penguins-raw.csv"), item("d2", "flights.csv")], total = items.length) => ({
  data: { items, total, limit: 20, offset: 0 },
});

test("the datasets table shows name (a link to its page), shape, quality score and status in words", async () => {
  saveTokens({ access_token: "acc", refresh_token: "ref" });
  const api = fakeApi({ "GET /api/v1/datasets": () => json(page()) });
  render(<DatasetsPage />);
  const link = await screen.findByRole("link", { name: "penguins-raw.csv" });
  expect(link).toHaveAttribute("href", "#/datasets/d1");
  const row = link.closest("tr")!;
  expect(within(row).getByText("344 × 17")).toBeInTheDocument();
  expect(within(row).getByText("87.3")).toBeInTheDocument();
  expect(within(row).getByText("profiled")).toBeInTheDocument();
  expect(api.calls[0].search).toBe("?limit=20&offset=0");
  expect(api.calls[0].headers.get("Authorization")).toBe("Bearer acc");
});

test("a dataset that failed validation says so beside its status", async () => {
  saveTokens({ access_token: "acc", refresh_token: "ref" });
  const items = [
    { ...item("d1", "penguins-raw.csv"), validation_status: "failed" },
    { ...item("d2", "flights.csv"), validation_status: "passed" },
  ];
  fakeApi({ "GET /api/v1/datasets": () => json(page(items)) });
  render(<DatasetsPage />);
  const failing = (await screen.findByRole("link", { name: "penguins-raw.csv" })).closest("tr")!;
  expect(within(failing).getByText("failed validation")).toBeInTheDocument();
  const passing = screen.getByRole("link", { name: "flights.csv" }).closest("tr")!;
  expect(within(passing).queryByText(/validation/)).toBeNull();
});

test("the search box asks the API for names containing the words, from the first page", async () => {
  saveTokens({ access_token: "acc", refresh_token: "ref" });
  const api = fakeApi({
    "GET /api/v1/datasets": (call) =>
      json(new URLSearchParams(call.search).get("q") === "peng" ? page([item("d1", "penguins-raw.csv")]) : page([], 0)),
  });
  render(<DatasetsPage />);
  expect(await screen.findByText("No datasets yet. Upload a CSV file to start.")).toBeInTheDocument();
  await userEvent.type(screen.getByLabelText("Search datasets"), "peng");
  expect(await screen.findByRole("link", { name: "penguins-raw.csv" })).toBeInTheDocument();
  const searched = api.of("GET /api/v1/datasets").map((c) => new URLSearchParams(c.search));
  expect(searched.at(-1)!.get("q")).toBe("peng");
  expect(searched.at(-1)!.get("offset")).toBe("0");
  // typed quickly: one request for the words, not one per key
  expect(searched.filter((s) => s.has("q")).length).toBe(1);
  await userEvent.clear(screen.getByLabelText("Search datasets"));
  await userEvent.type(screen.getByLabelText("Search datasets"), "zzz");
  expect(await screen.findByText("No dataset's name contains “zzz”.")).toBeInTheDocument();
});

test("Delete asks in a modal dialog naming the dataset; Escape cancels and gives focus back", async () => {
  saveTokens({ access_token: "acc", refresh_token: "ref" });
  const api = fakeApi({ "GET /api/v1/datasets": () => json(page()) });
  renderAs("analyst", <DatasetsPage />);
  const button = await screen.findByRole("button", { name: "Delete penguins-raw.csv" });
  await userEvent.click(button);
  const dialog = screen.getByRole("dialog");
  expect(dialog).toHaveAttribute("aria-modal", "true");
  expect(dialog).toHaveAccessibleName("Delete dataset?");
  expect(dialog).toHaveTextContent("penguins-raw.csv will be erased");
  expect(dialog).toContainElement(document.activeElement as HTMLElement);
  await userEvent.tab();
  await userEvent.tab();
  expect(dialog).toContainElement(document.activeElement as HTMLElement); // Tab stays inside
  await userEvent.keyboard("{Escape}");
  expect(screen.queryByRole("dialog")).toBeNull();
  expect(button).toHaveFocus();
  expect(api.of("DELETE /api/v1/datasets/d1")).toHaveLength(0);
  expect(screen.getByRole("link", { name: "penguins-raw.csv" })).toBeInTheDocument();
});

test("confirming deletes the dataset through the API and removes its row", async () => {
  saveTokens({ access_token: "acc", refresh_token: "ref" });
  const api = fakeApi({
    "GET /api/v1/datasets": () => json(page()),
    "DELETE /api/v1/datasets/d1": () => json({ data: { deletion_id: "x1", dataset_id: "d1", status: "pending" } }, 202),
  });
  renderAs("admin", <DatasetsPage />);
  await userEvent.click(await screen.findByRole("button", { name: "Delete penguins-raw.csv" }));
  await userEvent.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Delete dataset" }));
  await waitFor(() => expect(screen.queryByRole("dialog")).toBeNull());
  expect(api.of("DELETE /api/v1/datasets/d1")).toHaveLength(1);
  expect(screen.queryByRole("link", { name: "penguins-raw.csv" })).toBeNull();
  expect(screen.getByRole("link", { name: "flights.csv" })).toBeInTheDocument();
  expect(screen.getByRole("status")).toHaveTextContent("penguins-raw.csv is being deleted.");
});

test("a refused deletion keeps the row and says why inside the dialog", async () => {
  saveTokens({ access_token: "acc", refresh_token: "ref" });
  fakeApi({
    "GET /api/v1/datasets": () => json(page()),
    "DELETE /api/v1/datasets/d1": () =>
      json({ errors: [{ code: "not_found", message: "No dataset has the id d1." }] }, 404),
  });
  renderAs("analyst", <DatasetsPage />);
  await userEvent.click(await screen.findByRole("button", { name: "Delete penguins-raw.csv" }));
  await userEvent.click(screen.getByRole("button", { name: "Delete dataset" }));
  expect(await within(screen.getByRole("dialog")).findByRole("alert")).toHaveTextContent("No dataset has the id d1.");
  expect(screen.getByRole("link", { name: "penguins-raw.csv" })).toBeInTheDocument();
});

test("a viewer sees no Delete button and no upload link", async () => {
  saveTokens({ access_token: "acc", refresh_token: "ref" });
  fakeApi({ "GET /api/v1/datasets": () => json(page()) });
  renderAs("viewer", <DatasetsPage />);
  expect(await screen.findByRole("link", { name: "penguins-raw.csv" })).toBeInTheDocument();
  expect(screen.queryByRole("button", { name: /^Delete/ })).toBeNull();
  expect(screen.queryByRole("columnheader", { name: "Actions" })).toBeNull();
  expect(screen.queryByRole("link", { name: "Upload a file" })).toBeNull();
});

test("an expired session refreshes once and retries", async () => {
  saveTokens({ access_token: "old", refresh_token: "ref" });
  const fetch = vi
    .fn()
    .mockResolvedValueOnce(json({ errors: [{ code: "not_authenticated", message: "expired" }] }, 401))
    .mockResolvedValueOnce(json({ data: { access_token: "new", refresh_token: "ref2" } }))
    .mockResolvedValueOnce(json(page()));
  vi.stubGlobal("fetch", fetch);
  render(<DatasetsPage />);
  expect(await screen.findByText("penguins-raw.csv")).toBeInTheDocument();
  expect(loadTokens()).toEqual({ access_token: "new", refresh_token: "ref2" });
  expect((fetch.mock.calls[2][0] as Request).headers.get("Authorization")).toBe("Bearer new");
});

test("a refused refresh sends the user back to sign in", async () => {
  saveTokens({ access_token: "old", refresh_token: "ref" });
  vi.stubGlobal(
    "fetch",
    vi
      .fn()
      .mockResolvedValueOnce(json({ errors: [{ code: "not_authenticated", message: "expired" }] }, 401))
      .mockResolvedValueOnce(json({ errors: [{ code: "invalid_token", message: "used up" }] }, 401)),
  );
  render(<DatasetsPage />);
  expect(await screen.findByRole("alert")).toHaveTextContent("expired");
  expect(loadTokens()).toBeNull();
});
