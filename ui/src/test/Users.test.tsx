import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, expect, test, vi } from "vitest";
import { MeProvider } from "../api/me";
import { saveTokens } from "../api/session";
import { UsersPage } from "../pages/UsersPage";
import { fakeApi, json, me } from "./fakes";

beforeEach(() => saveTokens({ access_token: "acc", refresh_token: "ref" }));
afterEach(() => {
  vi.unstubAllGlobals();
  saveTokens(null);
});

const admin = { ...me("admin"), user_id: "u-admin" };
const user = (id: string, email: string, role: string, disabled = false) => ({
  id, email, role, disabled, organization: "default", organization_id: "o1", created_at: "2026-11-01T10:00:00Z",
  updated_at: "2026-11-01T10:00:00Z",
});

function gateway() {
  let users = [user("u-admin", "admin@example.com", "admin"), user("u-ana", "ana@example.com", "analyst")];
  const patch = (id: string) => (call: { body: unknown }) => {
    users = users.map((u) => (u.id === id ? { ...u, ...(call.body as object) } : u));
    return json({ data: users.find((u) => u.id === id) });
  };
  return fakeApi({
    "GET /api/v1/users": () => json({ data: { items: users, total: users.length, limit: 500, offset: 0 } }),
    "POST /api/v1/users": (call) => {
      const body = call.body as { email: string; password: string; role: string };
      if (body.password.length < 12) {
        return json({ errors: [{ code: "weak_password", message: "The password needs at least 12 characters.", field: "password" }] }, 422);
      }
      const made = user("u-new", body.email, body.role);
      users = [...users, made];
      return json({ data: made }, 201);
    },
    "PATCH /api/v1/users/u-ana": patch("u-ana"),
    "DELETE /api/v1/users/u-ana": () => {
      users = users.filter((u) => u.id !== "u-ana");
      return json({ data: { id: "u-ana", deleted: true } });
    },
  });
}

test("a non-admin is told they need the admin role, and nothing is asked of the API", () => {
  const { fetch } = gateway();
  render(
    <MeProvider me={{ ...me("analyst"), user_id: "u-admin" }}>
      <UsersPage />
    </MeProvider>,
  );
  expect(screen.getByRole("alert")).toHaveTextContent("You need the admin role");
  expect(fetch).not.toHaveBeenCalled();
});

test("an admin adds a user; the API's refusal is shown in plain words", async () => {
  const u = userEvent.setup();
  const { calls } = gateway();
  render(<MeProvider me={admin}><UsersPage /></MeProvider>);
  await screen.findByRole("row", { name: /ana@example.com/ });
  await u.type(screen.getByLabelText("Email"), "new@example.com");
  await u.type(screen.getByLabelText("Password"), "short");
  await u.selectOptions(screen.getByLabelText("Role"), "viewer");
  await u.click(screen.getByRole("button", { name: "Add user" }));
  expect(await screen.findByRole("alert")).toHaveTextContent("The password needs at least 12 characters.");
  await u.clear(screen.getByLabelText("Password"));
  await u.type(screen.getByLabelText("Password"), "a-long-enough-password");
  await u.click(screen.getByRole("button", { name: "Add user" }));
  expect(await screen.findByRole("row", { name: /new@example.com/ })).toBeInTheDocument();
  expect(calls.filter((s) => s.method === "POST")[1].body).toEqual({
    email: "new@example.com", password: "a-long-enough-password", role: "viewer",
  });
  expect(screen.getByRole("status")).toHaveTextContent("Added new@example.com as viewer.");
});

test("an admin changes a role, disables and enables, and deletes after confirming", async () => {
  const u = userEvent.setup();
  const { calls } = gateway();
  render(<MeProvider me={admin}><UsersPage /></MeProvider>);
  const row = await screen.findByRole("row", { name: /ana@example.com/ });
  // your own row cannot be changed from here
  const mine = screen.getByRole("row", { name: /admin@example.com \(you\)/ });
  expect(within(mine).getByLabelText("Role of admin@example.com")).toBeDisabled();
  expect(within(mine).queryByRole("button")).not.toBeInTheDocument();

  await u.selectOptions(within(row).getByLabelText("Role of ana@example.com"), "viewer");
  expect(calls.filter((s) => s.method === "PATCH")).toHaveLength(0); // choosing is not saving
  await u.click(within(row).getByRole("button", { name: "Save the role of ana@example.com" }));
  expect(await screen.findByText("ana@example.com is now viewer.")).toBeInTheDocument();
  expect(within(row).queryByRole("button", { name: /Save the role/ })).not.toBeInTheDocument();
  await u.click(within(row).getByRole("button", { name: "Disable ana@example.com" }));
  expect(await within(screen.getByRole("row", { name: /ana@example.com/ })).findByText("Disabled")).toBeInTheDocument();
  await u.click(screen.getByRole("button", { name: "Enable ana@example.com" }));
  expect(await within(screen.getByRole("row", { name: /ana@example.com/ })).findByText("Active")).toBeInTheDocument();
  expect(calls.filter((s) => s.method === "PATCH").map((s) => s.body)).toEqual([
    { role: "viewer" }, { disabled: true }, { disabled: false },
  ]);

  await u.click(screen.getByRole("button", { name: "Delete ana@example.com" }));
  const dialog = screen.getByRole("dialog", { name: "Delete ana@example.com?" });
  await u.keyboard("{Escape}");
  expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
  expect(calls.filter((s) => s.method === "DELETE")).toHaveLength(0);
  await u.click(screen.getByRole("button", { name: "Delete ana@example.com" }));
  await u.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Delete user" }));
  expect(await screen.findByText("Deleted ana@example.com.")).toBeInTheDocument();
  expect(screen.queryByRole("row", { name: /ana@example.com/ })).not.toBeInTheDocument();
  expect(dialog).not.toBeInTheDocument();
});
