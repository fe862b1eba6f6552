import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, expect, test, vi } from "vitest";
import { saveTokens } from "../api/session";
import { KeysPage, expiryOf } from "../pages/KeysPage";
import { fakeApi, json, renderAs } from "./fakes";

beforeEach(() => saveTokens({ access_token: "acc", refresh_token: "ref" }));
afterEach(() => {
  vi.unstubAllGlobals();
  saveTokens(null);
});

type Key = Record<string, unknown> & { id: string };
const key = (over: Record<string, unknown>): Key => ({
  id: "k1", name: "nightly", role: "analyst", user_id: "u1", created_at: "2026-11-01T10:00:00Z",
  last_used_at: null, revoked_at: null, expires_at: null, status: "active", ...over,
});

function gateway(initial: Key[]) {
  let keys = [...initial];
  return fakeApi({
    "GET /api/v1/api-keys": () => json({ data: { items: keys, total: keys.length } }),
    "POST /api/v1/api-keys": (call) => {
      const body = call.body as { name: string; role: string; expires_at: string | null };
      const made = key({ id: "k2", name: body.name, role: body.role, expires_at: body.expires_at });
      keys = [made, ...keys];
      return json({ data: { ...made, key: "dsp_secret_shown_once" } }, 201);
    },
    "DELETE /api/v1/api-keys/k1": () => {
      keys = keys.map((k) => (k.id === "k1" ? { ...k, status: "revoked", revoked_at: "2026-12-01T11:00:00Z" } : k));
      return json({ data: keys.find((k) => k.id === "k1") });
    },
  });
}

test("the list shows name, role, dates and status in words", async () => {
  gateway([key({}), key({ id: "k0", name: "old", status: "expired", expires_at: "2026-01-01T00:00:00Z", last_used_at: "2025-12-31T10:00:00Z" })]);
  renderAs("analyst", <KeysPage />);
  const active = (await screen.findByRole("row", { name: /nightly/ }));
  expect(active).toHaveTextContent("Active");
  expect(active).toHaveTextContent("Never"); // never used, never expires
  expect(within(active).getByRole("button", { name: "Revoke nightly" })).toBeInTheDocument();
  const expired = screen.getByRole("row", { name: /old/ });
  expect(expired).toHaveTextContent("Expired");
  expect(within(expired).queryByRole("button")).not.toBeInTheDocument();
});

test("creating a key offers roles up to yours, sends the expiry, and shows the key once", async () => {
  const user = userEvent.setup();
  const { calls } = gateway([]);
  renderAs("analyst", <KeysPage />);
  await screen.findByText("You have no API keys yet.");
  const role = screen.getByLabelText("Role");
  expect(within(role).getAllByRole("option").map((o) => o.textContent)).toEqual(["viewer", "analyst"]);
  await user.type(screen.getByLabelText("Name"), "ci job");
  await user.selectOptions(role, "viewer");
  await user.type(screen.getByLabelText("Expires (optional)"), "2099-06-30");
  await user.click(screen.getByRole("button", { name: "Create key" }));
  const shown = await screen.findByLabelText("New API key");
  expect(shown).toHaveValue("dsp_secret_shown_once");
  expect(shown).toHaveAttribute("readonly");
  expect(shown).toHaveAccessibleDescription(/only time it is shown/);
  const body = calls.find((s) => s.method === "POST")!.body as { expires_at: string };
  expect(body).toEqual({ name: "ci job", role: "viewer", expires_at: expiryOf("2099-06-30") });
  expect(new Date(body.expires_at).getDate()).toBe(30);
  expect(await screen.findByRole("row", { name: /ci job/ })).toHaveTextContent("viewer");

  const writeText = vi.fn().mockResolvedValue(undefined);
  Object.defineProperty(navigator, "clipboard", { value: { writeText }, configurable: true });
  await user.click(screen.getByRole("button", { name: "Copy" }));
  expect(writeText).toHaveBeenCalledWith("dsp_secret_shown_once");
  expect(screen.getByRole("status")).toHaveTextContent("Copied");

  await user.click(screen.getByRole("button", { name: "I have copied it" }));
  expect(screen.queryByLabelText("New API key")).not.toBeInTheDocument();
  expect(document.body).not.toHaveTextContent("dsp_secret_shown_once"); // gone for good
});

test("a key needs a name", async () => {
  const user = userEvent.setup();
  const { calls } = gateway([]);
  renderAs("analyst", <KeysPage />);
  await screen.findByText("You have no API keys yet.");
  await user.click(screen.getByRole("button", { name: "Create key" }));
  expect(screen.getByRole("alert")).toHaveTextContent("Give the key a name");
  expect(calls.filter((s) => s.method === "POST")).toHaveLength(0);
});

test("revoking asks first; Cancel keeps the key, confirming revokes it", async () => {
  const user = userEvent.setup();
  const { calls } = gateway([key({})]);
  renderAs("analyst", <KeysPage />);
  const revoke = await screen.findByRole("button", { name: "Revoke nightly" });
  await user.click(revoke);
  const dialog = screen.getByRole("dialog", { name: "Revoke the key “nightly”?" });
  await user.click(within(dialog).getByRole("button", { name: "Cancel" }));
  expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
  expect(revoke).toHaveFocus();
  expect(calls.filter((s) => s.method === "DELETE")).toHaveLength(0);

  await user.click(revoke);
  await user.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Revoke key" }));
  expect(await screen.findByRole("row", { name: /nightly/ })).toHaveTextContent("Revoked");
  expect(calls.filter((s) => s.method === "DELETE").map((s) => s.path)).toEqual(["/api/v1/api-keys/k1"]);
  expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
});
