import { useEffect, useId, useRef, useState, type DragEvent, type FormEvent } from "react";
import { ApiError } from "../api/client";
import { useCan, useMe } from "../api/me";
import { followJob, uploadFile, type StageUpdate, type UploadOptions, type UploadResult } from "../api/upload";
import { Field } from "../components/Field";
import { ErrorAlert } from "../components/ErrorAlert";
import { CancelJob } from "../components/CancelJob";
import { Progress } from "../components/Progress";
import { BudgetField, TaskSelect, TypeSelect, columnList, type Task } from "../components/Inputs";
import { hashOf } from "../router";

/** The job's overall progress when the dataset is profiled: where an upload that starts an analysis is done. */
const PROFILED = 0.35;
const MAX_BUDGET_S = 3600;

interface Override {
  key: number;
  column: string;
  type: string;
}

/** The plain-words message of a failure, with the lines the API names (ragged rows). */
export function explain(failure: unknown): string {
  if (!(failure instanceof ApiError)) return failure instanceof Error ? failure.message : "The upload failed.";
  const lines = failure.details.sample_line_numbers;
  let text = failure.message;
  if (Array.isArray(lines) && lines.length) {
    const count = typeof failure.details.count === "number" ? failure.details.count : lines.length;
    text += ` ${lines.length < count ? "First lines" : lines.length === 1 ? "Line" : "Lines"}: ${lines.join(", ")}.`;
  }
  return text;
}

/** The column names in the first line of a CSV file (for suggestions; the server reads the file itself and
 * recognises the other formats by content: none are suggested for a binary file or JSON). */
async function headerOf(file: File): Promise<string[]> {
  try {
    return namesInHead(await file.slice(0, 64 * 1024).text());
  } catch {
    return [];
  }
}

/** The names in the first line of a file's head read as text; none for binary data (Parquet, a workbook, a
 * compressed file) or JSON. */
export function namesInHead(head: string): string[] {
  const first = head.replace(/^\uFEFF/, "").split(/\r?\n/)[0] ?? "";
  if (/[\u0000-\u0008\uFFFD]/.test(head.slice(0, 4096)) || /^\s*[[{]/.test(first)) return [];
  const delimiter = [",", ";", "\t", "|"].reduce((a, b) => (first.split(b).length > first.split(a).length ? b : a));
  return first
    .split(delimiter)
    .map((name) => name.trim().replace(/^"(.*)"$/, "$1"))
    .filter(Boolean)
    .slice(0, 500);
}

export function UploadPage() {
  const me = useMe();
  const canWrite = useCan("write");
  if (!me) return <p>Loading…</p>;
  if (!canWrite) {
    return (
      <section aria-labelledby="upload-title" className="space-y-4">
        <h1 id="upload-title" className="text-2xl font-semibold">
          Upload
        </h1>
        <p className="card">Uploading needs the analyst or admin role. Ask an admin of your organisation for it.</p>
      </section>
    );
  }
  return <UploadForm />;
}

function UploadForm() {
  const [file, setFile] = useState<File | null>(null);
  const [columns, setColumns] = useState<string[]>([]);
  const [target, setTarget] = useState("");
  const [task, setTask] = useState<Task>("");
  const [budget, setBudget] = useState("");
  const [exclude, setExclude] = useState("");
  const [ids, setIds] = useState("");
  const [skipBad, setSkipBad] = useState(false);
  const [overrides, setOverrides] = useState<Override[]>([]);
  const [sent, setSent] = useState<number | null>(null);
  const [stage, setStage] = useState<StageUpdate | null>(null);
  const [result, setResult] = useState<UploadResult | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [dragging, setDragging] = useState(false);
  const stop = useRef<(() => void) | null>(null);
  const nextKey = useRef(0);
  const listId = useId();
  useEffect(() => () => stop.current?.(), []);

  function choose(chosen: File | null) {
    setFile(chosen);
    setError(null);
    setColumns([]);
    if (chosen) void headerOf(chosen).then(setColumns);
  }

  function options(): UploadOptions | string {
    const opts: UploadOptions = {};
    if (task !== "unsupervised" && target.trim()) opts.target = target.trim();
    if (task === "unsupervised") opts.analyze = true;
    if (task) opts.task = task;
    const analysis: NonNullable<UploadOptions["analysis"]> = {};
    if (budget.trim()) {
      const seconds = Number(budget);
      if (!Number.isFinite(seconds) || seconds <= 0 || seconds > MAX_BUDGET_S)
        return `The time budget is a number of seconds between 1 and ${MAX_BUDGET_S}.`;
      analysis.time_budget_s = seconds;
    }
    if (columnList(exclude).length) analysis.exclude_columns = columnList(exclude);
    if (columnList(ids).length) analysis.id_columns = columnList(ids);
    if (Object.keys(analysis).length) opts.analysis = analysis;
    const typeOverrides: Record<string, string> = {};
    for (const o of overrides) {
      if (!o.column.trim()) continue;
      typeOverrides[o.column.trim()] = o.type;
    }
    const ingest: NonNullable<UploadOptions["ingest"]> = {};
    if (Object.keys(typeOverrides).length) ingest.type_overrides = typeOverrides;
    if (skipBad) ingest.bad_rows = "skip";
    if (Object.keys(ingest).length) opts.ingest = ingest;
    return opts;
  }

  async function start(event?: FormEvent) {
    event?.preventDefault();
    if (!file) {
      setError("Choose a data file first.");
      return;
    }
    const opts = options();
    if (typeof opts === "string") {
      setError(opts);
      return;
    }
    stop.current?.();
    setError(null);
    setStage(null);
    setResult(null);
    setSent(0);
    setBusy(true);
    const analysing = Boolean(opts.target || opts.analyze || opts.task);
    try {
      const uploaded = await uploadFile(file, (loaded, total) => setSent(total ? loaded / total : 0), opts);
      setSent(1);
      setResult(uploaded);
      setStage({ stage: "ingest", progress: 0, message: uploaded.status, done: false, error: null });
      const upto = analysing ? PROFILED : 1;
      stop.current = followJob(uploaded.job_id, (update) => {
        const part = Math.min(1, update.progress / upto);
        const done = update.done || (analysing && update.progress >= upto);
        setStage({ ...update, progress: update.error ? update.progress / upto : done ? 1 : part, done });
        if (update.error) setError(update.error);
        if (done && !update.done) stop.current?.();
      });
    } catch (failure) {
      setError(explain(failure));
      setSent(null);
    } finally {
      setBusy(false);
    }
  }

  function dropped(event: DragEvent) {
    event.preventDefault();
    setDragging(false);
    const dropped = event.dataTransfer.files[0];
    if (dropped) choose(dropped);
  }

  const analysisId = result?.analysis_id ?? null;
  return (
    <section aria-labelledby="upload-title" className="space-y-4">
      <h1 id="upload-title" className="text-2xl font-semibold">
        Upload
      </h1>
      <form className="space-y-4" onSubmit={(e) => void start(e)} noValidate>
        <div
          onDragOver={(e) => {
            e.preventDefault();
            setDragging(true);
          }}
          onDragLeave={() => setDragging(false)}
          onDrop={dropped}
          className={`card border-2 border-dashed focus-within:ring-2 focus-within:ring-sky-500 ${
            dragging ? "border-sky-500" : "border-slate-300 dark:border-slate-700"
          }`}
        >
          <label className="block text-sm font-medium">
            Data file
            <input
              type="file"
              accept=".csv,.tsv,.txt,text/csv,.parquet,.arrow,.feather,.ipc,.xlsx,.xlsb,.xls,.ods,.json,.ndjson,.jsonl,.gz,.zst,.bz2"
              className="field"
              onChange={(e) => choose(e.target.files?.[0] ?? null)}
            />
          </label>
          <p className="mt-2 text-sm text-slate-600 dark:text-slate-400">
            {file ? `Chosen: ${file.name} (${file.size.toLocaleString()} bytes)` : "Or drop a file here: CSV, Parquet, Arrow, Excel, ODS, JSON or NDJSON, compressed or not."}
          </p>
        </div>

        <fieldset className="card space-y-4">
          <legend className="px-1 text-sm font-semibold">Analysis (optional)</legend>
          <p className="text-sm text-slate-600 dark:text-slate-400">
            An analysis starts after the file is read when you name a target column or choose a task. Detect picks
            the task from the target and the data; any other choice is final.
          </p>
          <div className="grid gap-4 sm:grid-cols-3">
            <label className="block text-sm font-medium">
              Target
              <input
                type="text"
                className="field"
                list={columns.length ? `${listId}-columns` : undefined}
                value={target}
                disabled={task === "unsupervised"}
                onChange={(e) => setTarget(e.target.value)}
              />
            </label>
            <Field label="Task">
              <TaskSelect value={task} onChange={setTask} />
            </Field>
            <BudgetField value={budget} onChange={setBudget} max={MAX_BUDGET_S} placeholder="60" />
          </div>
          <div className="grid gap-4 sm:grid-cols-2">
            <label className="block text-sm font-medium">
              Leave out columns
              <input
                type="text"
                className="field"
                placeholder="comma-separated, e.g. notes, comments"
                value={exclude}
                onChange={(e) => setExclude(e.target.value)}
              />
            </label>
            <label className="block text-sm font-medium">
              ID columns
              <input
                type="text"
                className="field"
                placeholder="comma-separated: never used as model features"
                value={ids}
                onChange={(e) => setIds(e.target.value)}
              />
            </label>
          </div>
        </fieldset>

        <fieldset className="card space-y-3">
          <legend className="px-1 text-sm font-semibold">Reading (optional)</legend>
          <p className="text-sm text-slate-600 dark:text-slate-400">
            Column types are inferred; set one here to replace the inferred type.
          </p>
          {overrides.map((o, index) => (
            <div key={o.key} className="flex flex-wrap items-end gap-2">
              <label className="block min-w-0 flex-1 text-sm font-medium">
                Column {index + 1}
                <input
                  type="text"
                  className="field"
                  list={columns.length ? `${listId}-columns` : undefined}
                  value={o.column}
                  onChange={(e) =>
                    setOverrides(overrides.map((x) => (x.key === o.key ? { ...x, column: e.target.value } : x)))
                  }
                />
              </label>
              <Field label={`Type of column ${index + 1}`}>
                <TypeSelect
                  value={o.type}
                  onChange={(type) => setOverrides(overrides.map((x) => (x.key === o.key ? { ...x, type } : x)))}
                />
              </Field>
              <button
                type="button"
                className="btn-quiet"
                aria-label={`Remove type override ${index + 1}`}
                onClick={() => setOverrides(overrides.filter((x) => x.key !== o.key))}
              >
                Remove
              </button>
            </div>
          ))}
          <button
            type="button"
            className="btn-quiet"
            onClick={() => setOverrides([...overrides, { key: nextKey.current++, column: "", type: "categorical" }])}
          >
            Add a type override
          </button>
          <label className="flex items-center gap-2 text-sm">
            <input type="checkbox" checked={skipBad} onChange={(e) => setSkipBad(e.target.checked)} />
            Skip rows with the wrong number of fields (and list them) instead of rejecting the file
          </label>
        </fieldset>
        {columns.length > 0 && (
          <datalist id={`${listId}-columns`}>
            {columns.map((c) => (
              <option key={c} value={c} />
            ))}
          </datalist>
        )}
        <button type="submit" className="btn" disabled={busy}>
          Upload
        </button>
      </form>
      <ErrorAlert message={error} />
      {sent !== null && (
        <div className="card space-y-4" aria-live="polite">
          <p className="text-sm font-medium">{file?.name}</p>
          <Progress label="Upload" value={sent} />
          {stage && <Progress label={`Processing${stage.stage ? ` (${stage.stage})` : ""}`} value={stage.progress} />}
          {stage && !stage.done && result && (
            <CancelJob
              jobId={result.job_id}
              onCancelled={() => {
                stop.current?.();
                setStage({ ...stage, done: true, error: null, status: "cancelled", message: "Cancelled" });
              }}
            />
          )}
          {stage?.status === "cancelled" && (
            <p role="status">Cancelled. The dataset is marked failed; upload the file again or delete it.</p>
          )}
          {stage?.done && !stage.error && stage.status !== "cancelled" && result && (
            <p className="flex flex-wrap gap-x-4 gap-y-1">
              <span>{analysisId ? "The file is read; the analysis goes on." : "Done."}</span>
              <a className="underline" href={hashOf({ page: "dataset", id: result.dataset_id })}>
                Open the dataset
              </a>
              <a className="underline" href="#/datasets">
                See it in the datasets
              </a>
              {analysisId && (
                <a className="underline" href={hashOf({ page: "analysis", id: analysisId })}>
                  Open the analysis
                </a>
              )}
            </p>
          )}
        </div>
      )}
    </section>
  );
}
