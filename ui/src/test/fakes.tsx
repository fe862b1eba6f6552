// Stand-ins the tests drive: the API behind fetch, XMLHttpRequest uploads, the progress WebSocket, a signed-in user.
import { render } from "@testing-library/react";
import type { ReactElement } from "react";
import { vi } from "vitest";
import { MeProvider, type Me, type Permission } from "../api/me";

export const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

export interface Call {
  method: string;
  path: string;
  search: string;
  body: unknown;
  headers: Headers;
}

type Handler = (call: Call) => Response | Promise<Response>;

/** fetch answering "METHOD /path" from the handlers (a list is answered in turn, its last one repeats); records every call. */
export function fakeApi(handlers: Record<string, Handler | Handler[]>) {
  const calls: Call[] = [];
  const used: Record<string, number> = {};
  const fetch = vi.fn(async (request: Request) => {
    const url = new URL(request.url);
    const text = request.method === "GET" ? "" : await request.text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = text;
    }
    const call = { method: request.method, path: url.pathname, search: url.search, body, headers: request.headers };
    calls.push(call);
    const key = `${request.method} ${url.pathname}`;
    const handler = handlers[key];
    if (!handler) return json({ errors: [{ code: "not_found", message: `no fake for ${key}` }] }, 404);
    if (Array.isArray(handler)) {
      const index = Math.min(used[key] ?? 0, handler.length - 1);
      used[key] = (used[key] ?? 0) + 1;
      return handler[index](call);
    }
    return handler(call);
  });
  vi.stubGlobal("fetch", fetch);
  return { fetch, calls, of: (key: string) => calls.filter((c) => `${c.method} ${c.path}` === key) };
}

const PERMISSIONS: Record<Me["role"], Permission[]> = {
  admin: ["read", "write", "manage_keys", "manage_users", "read_audit"],
  analyst: ["read", "write", "manage_keys"],
  viewer: ["read"],
};

export function me(role: Me["role"]): Me {
  return {
    user_id: "u1",
    email: `${role}@example.com`,
    role,
    organization_id: "o1",
    organization: "default",
    permissions: PERMISSIONS[role],
  };
}

/** Render as a signed-in user of this role. */
export function renderAs(role: Me["role"], ui: ReactElement) {
  return render(<MeProvider me={me(role)}>{ui}</MeProvider>);
}

/** A stand-in XMLHttpRequest whose upload progress and answer the test drives. */
export class FakeXhr {
  static last: FakeXhr | null = null;
  static all: FakeXhr[] = [];
  upload: { onprogress: ((e: { lengthComputable: boolean; loaded: number; total: number }) => void) | null } = {
    onprogress: null,
  };
  onload: (() => void) | null = null;
  onerror: (() => void) | null = null;
  status = 0;
  responseText = "";
  headers: Record<string, string> = {};
  url = "";
  body: FormData | null = null;
  constructor() {
    FakeXhr.last = this;
    FakeXhr.all.push(this);
  }
  open(_method: string, url: string) {
    this.url = url;
  }
  setRequestHeader(name: string, value: string) {
    this.headers[name] = value;
  }
  send(body: FormData) {
    this.body = body;
  }
  progress(loaded: number, total: number) {
    this.upload.onprogress?.({ lengthComputable: true, loaded, total });
  }
  answer(status: number, body: unknown) {
    this.status = status;
    this.responseText = JSON.stringify(body);
    this.onload?.();
  }
}

export class FakeSocket {
  static last: FakeSocket | null = null;
  static all: FakeSocket[] = [];
  onmessage: ((e: { data: string }) => void) | null = null;
  onclose: (() => void) | null = null;
  closed = false;
  constructor(readonly url: string) {
    FakeSocket.last = this;
    FakeSocket.all.push(this);
  }
  close() {
    this.closed = true;
  }
  push(message: unknown) {
    this.onmessage?.({ data: JSON.stringify(message) });
  }
  /** The server closed the stream. */
  drop() {
    this.onclose?.();
  }
}
