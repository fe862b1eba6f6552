// The typed API client: paths, parameters and bodies come from schema.d.ts, generated from the gateway's
// OpenAPI document (scripts/openapi.py, then `npm run gen:api`).
import createClient from "openapi-fetch";
import type { paths } from "./schema";
import { loadTokens, saveTokens, type Tokens } from "./session";

export interface ApiErrorItem {
  code: string;
  message: string;
  field?: string | null;
  details?: Record<string, unknown> | null;
}

/** An error of the API, in plain words: the envelope's first message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** The plain-words message of an error body: the envelope's errors[0].message, or OAuth2's description. */
export function errorFrom(status: number, body: unknown): ApiError {
  const b = (body ?? {}) as {
    errors?: ApiErrorItem[];
    error?: string | { code?: string; message?: string };
    error_description?: string;
  };
  const first = b.errors?.[0];
  if (first) return new ApiError(status, first.code, first.message, first.details ?? {});
  if (typeof b.error === "string") return new ApiError(status, b.error, b.error_description ?? b.error);
  if (b.error?.message) return new ApiError(status, b.error.code ?? "error", b.error.message);
  return new ApiError(status, "http_error", `The server answered ${status}.`);
}

let refreshing: Promise<Tokens | null> | null = null;

/** Rotate the token pair once (concurrent callers share the attempt); null sends the user back to sign in. */
export function refreshTokens(): Promise<Tokens | null> {
  const tokens = loadTokens();
  if (!tokens) return Promise.resolve(null);
  refreshing ??= (async () => {
    try {
      const response = await fetch("/api/v1/auth/refresh", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: tokens.refresh_token }),
      });
      if (!response.ok) {
        saveTokens(null);
        return null;
      }
      const body = (await response.json()) as { data?: Tokens } & Partial<Tokens>;
      const pair = body.data ?? (body as Tokens);
      saveTokens({ access_token: pair.access_token, refresh_token: pair.refresh_token });
      return loadTokens();
    } catch {
      saveTokens(null);
      return null;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

/** A new Idempotency-Key for one user action (an upload, a re-ingest, an analysis, a cancel): every automatic retry of that
 * action's request sends the same key, so the gateway answers it with the first response instead of doing it twice. */
export function newIdempotencyKey(): string {
  return crypto.randomUUID();
}

/** Answers of a proxy or a restarting gateway after which a request may or may not have been done. */
export const RETRIED_STATUSES = new Set([502, 503, 504]);
export const RETRY_DELAY_MS = 300;

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * fetch with the access token (see `signedFetch`). A request with an Idempotency-Key is sent once more, with its
 * key, when the network failed or the answer was 502, 503 or 504: the key makes that retry harmless.
 */
export async function authFetch(request: Request): Promise<Response> {
  if (!request.headers.has("Idempotency-Key")) return signedFetch(request);
  const again = request.clone();
  try {
    const response = await signedFetch(request);
    if (!RETRIED_STATUSES.has(response.status)) return response;
  } catch {
    // the answer was lost: the request may have been done; the retry with its key tells
  }
  await pause(RETRY_DELAY_MS);
  return signedFetch(again);
}

/** fetch with the access token; a 401 refreshes the session once and retries, then signs out. */
async function signedFetch(request: Request): Promise<Response> {
  const retry = request.clone();
  const tokens = loadTokens();
  if (tokens) request.headers.set("Authorization", `Bearer ${tokens.access_token}`);
  const response = await fetch(request);
  if (response.status !== 401 || !tokens) return response;
  const renewed = await refreshTokens();
  if (!renewed) return response;
  retry.headers.set("Authorization", `Bearer ${renewed.access_token}`);
  const again = await fetch(retry);
  if (again.status === 401) saveTokens(null);
  return again;
}

export const api = createClient<paths>({ baseUrl: location.origin, fetch: (request) => authFetch(request) });

/** Sign in with the OAuth2 password grant (form-encoded); keeps the tokens. */
export async function signIn(email: string, password: string): Promise<Tokens> {
  const { data, error, response } = await api.POST("/api/v1/auth/token", {
    body: { username: email, password, scope: "" },
    bodySerializer: (body) => new URLSearchParams({ username: body.username, password: body.password }),
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
  });
  if (error !== undefined || !response.ok) throw errorFrom(response.status, error);
  const pair = data as Tokens;
  const tokens = { access_token: pair.access_token, refresh_token: pair.refresh_token };
  saveTokens(tokens);
  return tokens;
}

export async function signOut(): Promise<void> {
  const tokens = loadTokens();
  saveTokens(null);
  if (tokens) {
    await api.POST("/api/v1/auth/logout", { body: { refresh_token: tokens.refresh_token } }).catch(() => undefined);
  }
}

export interface DatasetItem {
  dataset_id: string;
  display_name: string;
  status: string;
  size_bytes: number;
  row_count: number | null;
  column_count?: number | null;
  quality_score: number | null;
  /** "failed" when a validation rule of severity error is broken; null when the upload gave no rule. */
  validation_status?: "passed" | "warnings" | "failed" | null;
  created_at: string;
}

export interface DatasetPage {
  items: DatasetItem[];
  total: number;
  limit: number;
  offset: number;
}

/** A page of the organisation's datasets; `q` (when not blank) keeps those whose name contains it. */
export async function listDatasets(limit: number, offset: number, q = ""): Promise<DatasetPage> {
  const query: { limit: number; offset: number; q?: string } = { limit, offset };
  if (q.trim()) query.q = q.trim();
  const { data, error, response } = await api.GET("/api/v1/datasets", { params: { query } });
  if (error !== undefined || !response.ok) throw errorFrom(response.status, error);
  return (data as { data: DatasetPage }).data;
}
