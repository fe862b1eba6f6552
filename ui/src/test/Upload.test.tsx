import { act, render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, expect, test, vi } from "vitest";
import { saveTokens } from "../api/session";
import { UploadPage } from "../pages/UploadPage";

// A stand-in XMLHttpRequest whose upload progress and answer the test drives.
class FakeXhr {
  static last: FakeXhr | null = null;
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

class FakeSocket {
  static last: FakeSocket | null = null;
  onmessage: ((e: { data: string }) => void) | null = null;
  onclose: (() => void) | null = null;
  constructor(readonly url: string) {
    FakeSocket.last = this;
  }
  close() {}
  push(message: unknown) {
    this.onmessage?.({ data: JSON.stringify(message) });
  }
}

afterEach(() => {
  vi.unstubAllGlobals();
  saveTokens(null);
});

function bars() {
  return screen.getAllByRole("progressbar").map((bar) => bar.getAttribute("aria-valuenow"));
}

test("an upload shows its bytes sent, then the job's stages up to the end", async () => {
  saveTokens({ access_token: "acc", refresh_token: "ref" });
  vi.stubGlobal("XMLHttpRequest", FakeXhr);
  vi.stubGlobal("WebSocket", FakeSocket);
  render(<UploadPage />);
  const file = new File(["a,b\n1,2\n"], "small.csv", { type: "text/csv" });
  await userEvent.upload(screen.getByLabelText("Data file"), file);

  const xhr = FakeXhr.last!;
  expect(xhr.url).toBe("/api/v1/upload");
  expect(xhr.headers.Authorization).toBe("Bearer acc");
  expect((xhr.body!.get("file") as File).name).toBe("small.csv");
  act(() => xhr.progress(25, 100));
  expect(bars()).toEqual(["25"]);
  await act(async () => xhr.answer(201, { data: { dataset_id: "d1", job_id: "j1", status: "ingested" } }));
  expect(bars()).toEqual(["100", "0"]);

  const socket = FakeSocket.last!;
  expect(socket.url).toContain("/api/v1/ws?job_id=j1&token=acc");
  act(() => socket.push({ type: "upload.progress", stage: "profile", progress: 0.6, message: "profiling" }));
  expect(bars()).toEqual(["100", "60"]);
  expect(screen.getByText("Processing (profile)")).toBeInTheDocument();
  act(() => socket.push({ type: "upload.progress", stage: "profile", progress: 1.0, message: "profiled" }));
  expect(bars()).toEqual(["100", "100"]);
  expect(screen.getByText(/See it in the datasets/)).toBeInTheDocument();
});

test("a rejected file shows the API's message in plain words", async () => {
  saveTokens({ access_token: "acc", refresh_token: "ref" });
  vi.stubGlobal("XMLHttpRequest", FakeXhr);
  render(<UploadPage />);
  await userEvent.upload(screen.getByLabelText("Data file"), new File(["x"], "bad.csv"));
  const message = "The file has ragged rows at lines 17, 42.";
  await act(async () => FakeXhr.last!.answer(422, { errors: [{ code: "ragged_rows", message, field: "file" }] }));
  expect(screen.getByRole("alert")).toHaveTextContent(message);
});
