import { afterEach, expect, test, vi } from "vitest";
import { analyze, cancelJob, reingest } from "../api/data";
import { saveTokens } from "../api/session";
import { uploadFile } from "../api/upload";
import { FakeXhr, fakeApi, json } from "./fakes";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

afterEach(() => {
  vi.unstubAllGlobals();
  saveTokens(null);
  FakeXhr.last = null;
  FakeXhr.all = [];
});

const keyOf = (headers: Headers) => headers.get("Idempotency-Key");

test("each analysis asks with a key of its own; a 503 is retried once with the same key", async () => {
  saveTokens({ access_token: "acc", refresh_token: "ref" });
  const api = fakeApi({
    "POST /api/v1/analyze": [
      () => json({ errors: [{ code: "unavailable", message: "restarting" }] }, 503),
      () => json({ data: { analysis_id: "a1", status: "queued" } }, 202),
    ],
  });
  expect(await analyze("d1", "species", {})).toEqual({ analysis_id: "a1", status: "queued" });
  const [first, retry] = api.of("POST /api/v1/analyze");
  expect(keyOf(first.headers)).toMatch(UUID);
  expect(keyOf(retry.headers)).toBe(keyOf(first.headers));
  expect(retry.body).toEqual(first.body);

  await analyze("d1", "species", {}); // another click: another action, another key
  const third = api.of("POST /api/v1/analyze")[2];
  expect(keyOf(third.headers)).toMatch(UUID);
  expect(keyOf(third.headers)).not.toBe(keyOf(first.headers));
});

test("a re-ingest sends a key of its own; a 504 is retried once with the same key and body", async () => {
  saveTokens({ access_token: "acc", refresh_token: "ref" });
  const started = { dataset_id: "d2", job_id: "j2", status: "uploaded", source_dataset_id: "d1" };
  const api = fakeApi({
    "POST /api/v1/datasets/d1/reingest": [
      () => json({ errors: [{ code: "timeout", message: "The proxy gave up." }] }, 504),
      () => json({ data: started }, 202),
      () => json({ data: { ...started, dataset_id: "d3", job_id: "j3" } }, 202),
    ],
  });
  expect(await reingest("d1", { species: "categorical" })).toEqual(started);
  const [first, retry] = api.of("POST /api/v1/datasets/d1/reingest");
  expect(keyOf(first.headers)).toMatch(UUID);
  expect(keyOf(retry.headers)).toBe(keyOf(first.headers));
  expect(retry.body).toEqual({ type_overrides: { species: "categorical" } });

  await reingest("d1", { species: "text" }); // another re-ingest, another key
  expect(keyOf(api.of("POST /api/v1/datasets/d1/reingest")[2].headers)).not.toBe(keyOf(first.headers));
});

test("a cancel whose answer was lost is sent again with its key; a 4xx is not retried", async () => {
  saveTokens({ access_token: "acc", refresh_token: "ref" });
  let calls = 0;
  const api = fakeApi({
    "POST /api/v1/jobs/j1/cancel": () => {
      calls += 1;
      if (calls === 1) throw new TypeError("Failed to fetch");
      return json({ data: { id: "j1", status: "cancelled" } }, 202);
    },
    "POST /api/v1/jobs/j2/cancel": () =>
      json({ errors: [{ code: "job_not_running", message: "The job has ended already." }] }, 409),
  });
  expect(await cancelJob("j1")).toEqual({ id: "j1", status: "cancelled" });
  const [lost, retry] = api.of("POST /api/v1/jobs/j1/cancel");
  expect(keyOf(lost.headers)).toMatch(UUID);
  expect(keyOf(retry.headers)).toBe(keyOf(lost.headers));

  await expect(cancelJob("j2")).rejects.toMatchObject({ status: 409, code: "job_not_running" });
  expect(api.of("POST /api/v1/jobs/j2/cancel")).toHaveLength(1);
});

test("an upload sends its key on each attempt: after a lost connection or a 502, the same key again", async () => {
  saveTokens({ access_token: "acc", refresh_token: "ref" });
  vi.stubGlobal("XMLHttpRequest", FakeXhr);
  const file = new File(["a,b\n1,2\n"], "t.csv", { type: "text/csv" });
  const keys: string[] = [];
  for (const failure of ["lost", "502"]) {
    FakeXhr.all = [];
    const done = uploadFile(file, () => undefined);
    if (failure === "lost") FakeXhr.all[0].onerror?.();
    else FakeXhr.all[0].answer(502, null);
    await vi.waitFor(() => expect(FakeXhr.all).toHaveLength(2));
    FakeXhr.all[1].answer(201, { data: { dataset_id: "d1", job_id: "j1", status: "ingested" } });
    expect(await done).toEqual({ dataset_id: "d1", job_id: "j1", status: "ingested" });
    const [first, retry] = FakeXhr.all.map((xhr) => xhr.headers["Idempotency-Key"]);
    expect(first).toMatch(UUID);
    expect(retry).toBe(first);
    expect((FakeXhr.all[1].body!.get("file") as File).name).toBe("t.csv");
    keys.push(first);
  }
  expect(keys[0]).not.toBe(keys[1]); // two uploads, two keys

  FakeXhr.all = []; // a refusal (4xx) is the answer: not sent again
  const refused = uploadFile(file, () => undefined);
  FakeXhr.all[0].answer(415, { errors: [{ code: "unsupported_format", message: "Not a table." }] });
  await expect(refused).rejects.toMatchObject({ status: 415 });
  expect(FakeXhr.all).toHaveLength(1);
});
