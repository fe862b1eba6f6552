import { render, screen, within } from "@testing-library/react";
import { afterEach, expect, test, vi } from "vitest";
import { loadTokens, saveTokens } from "../api/session";
import { DatasetsPage } from "../pages/DatasetsPage";

afterEach(() => {
  vi.unstubAllGlobals();
  saveTokens(null);
});

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

const page = {
  data: {
    items: [
      {
        dataset_id: "d1",
        display_name: "penguins-raw.csv",
        status: "profiled",
        size_bytes: 1000,
        row_count: 344,
        column_count: 17,
        quality_score: 87.25,
        created_at: "2026-12-01T10:00:00Z",
      },
    ],
    total: 1,
    limit: 20,
    offset: 0,
  },
};

test("the datasets table shows name, shape, quality score and status", async () => {
  saveTokens({ access_token: "acc", refresh_token: "ref" });
  const fetch = vi.fn(async (_request: Request) => json(page));
  vi.stubGlobal("fetch", fetch);
  render(<DatasetsPage />);
  const row = (await screen.findByText("penguins-raw.csv")).closest("tr")!;
  expect(within(row).getByText("344 × 17")).toBeInTheDocument();
  expect(within(row).getByText("87.3")).toBeInTheDocument();
  expect(within(row).getByText("profiled")).toBeInTheDocument();
  const request = fetch.mock.calls[0][0];
  expect(new URL(request.url).search).toBe("?limit=20&offset=0");
  expect(request.headers.get("Authorization")).toBe("Bearer acc");
});

test("an expired session refreshes once and retries", async () => {
  saveTokens({ access_token: "old", refresh_token: "ref" });
  const fetch = vi
    .fn()
    .mockResolvedValueOnce(json({ errors: [{ code: "not_authenticated", message: "expired" }] }, 401))
    .mockResolvedValueOnce(json({ data: { access_token: "new", refresh_token: "ref2" } }))
    .mockResolvedValueOnce(json(page));
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
