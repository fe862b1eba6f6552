import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, expect, test, vi } from "vitest";
import { loadTokens, saveTokens } from "../api/session";
import { SignInPage } from "../pages/SignInPage";

afterEach(() => {
  vi.unstubAllGlobals();
  saveTokens(null);
});

test("signing in posts the form-encoded password grant and keeps the tokens", async () => {
  const fetch = vi.fn(async (_request: Request) =>
    new Response(JSON.stringify({ access_token: "acc", refresh_token: "ref", token_type: "bearer", expires_in: 900 }), {
      status: 200,
      headers: { "Content-Type": "application/json" },
    }),
  );
  vi.stubGlobal("fetch", fetch);
  render(<SignInPage />);
  await userEvent.type(screen.getByLabelText("Email"), "ada@example.org");
  await userEvent.type(screen.getByLabelText("Password"), "s3cret pass&word");
  await userEvent.click(screen.getByRole("button", { name: "Sign in" }));

  await vi.waitFor(() => expect(loadTokens()).toEqual({ access_token: "acc", refresh_token: "ref" }));
  const request = fetch.mock.calls[0][0];
  expect(new URL(request.url).pathname).toBe("/api/v1/auth/token");
  expect(request.method).toBe("POST");
  expect(request.headers.get("Content-Type")).toBe("application/x-www-form-urlencoded");
  const body = new URLSearchParams(await request.text());
  expect(body.get("username")).toBe("ada@example.org");
  expect(body.get("password")).toBe("s3cret pass&word");
  expect(JSON.parse(sessionStorage.getItem("dsp.session")!)).toEqual({ access_token: "acc", refresh_token: "ref" });
});

test("wrong credentials are shown in plain words", async () => {
  vi.stubGlobal(
    "fetch",
    vi.fn(async () =>
      new Response(JSON.stringify({ error: "invalid_grant", error_description: "Wrong e-mail address or password." }), {
        status: 401,
        headers: { "Content-Type": "application/json" },
      }),
    ),
  );
  render(<SignInPage />);
  await userEvent.type(screen.getByLabelText("Email"), "ada@example.org");
  await userEvent.type(screen.getByLabelText("Password"), "nope");
  await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
  expect(await screen.findByRole("alert")).toHaveTextContent("Wrong e-mail address or password.");
  expect(loadTokens()).toBeNull();
});
