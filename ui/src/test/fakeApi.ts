// A fake gateway for page tests: answers by "METHOD /path" and records every request with its body.
import { vi } from "vitest";

export const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

export interface Sent {
  method: string;
  path: string;
  search: string;
  headers: Headers;
  body: string;
}

type Handler = (sent: Sent) => Response | Promise<Response>;

export function fakeApi(routes: Record<string, Handler>) {
  const sent: Sent[] = [];
  const fetch = vi.fn(async (request: Request) => {
    const url = new URL(request.url);
    const entry: Sent = {
      method: request.method,
      path: url.pathname,
      search: url.search,
      headers: request.headers,
      body: request.body ? await request.text() : "",
    };
    sent.push(entry);
    const handler = routes[`${request.method} ${url.pathname}`];
    if (!handler) return json({ errors: [{ code: "not_found", message: `no fake for ${request.method} ${url.pathname}` }] }, 404);
    return handler(entry);
  });
  vi.stubGlobal("fetch", fetch);
  return { sent, fetch };
}
