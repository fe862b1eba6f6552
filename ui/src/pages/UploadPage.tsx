import { useEffect, useId, useRef, useState, type DragEvent } from "react";
import { ApiError } from "../api/client";
import { followJob, uploadFile, type StageUpdate } from "../api/upload";

function Progress({ label, value }: { label: string; value: number }) {
  const percent = Math.round(Math.min(1, Math.max(0, value)) * 100);
  const id = useId();
  return (
    <div>
      <div className="flex justify-between text-sm">
        <span id={id}>{label}</span>
        <span aria-hidden="true">{percent}%</span>
      </div>
      <div
        role="progressbar"
        aria-labelledby={id}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={percent}
        className="mt-1 h-3 overflow-hidden rounded bg-slate-200 dark:bg-slate-800"
      >
        <div className="h-full bg-sky-600 transition-all" style={{ width: `${percent}%` }} />
      </div>
    </div>
  );
}

export function UploadPage() {
  const [sent, setSent] = useState<number | null>(null);
  const [stage, setStage] = useState<StageUpdate | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [name, setName] = useState<string | null>(null);
  const [dragging, setDragging] = useState(false);
  const stop = useRef<(() => void) | null>(null);
  useEffect(() => () => stop.current?.(), []);

  async function start(file: File) {
    stop.current?.();
    setName(file.name);
    setError(null);
    setStage(null);
    setSent(0);
    try {
      const result = await uploadFile(file, (loaded, total) => setSent(total ? loaded / total : 0));
      setSent(1);
      setStage({ stage: "ingest", progress: 0, message: result.status, done: false, error: null });
      stop.current = followJob(result.job_id, (update) => {
        setStage(update);
        if (update.error) setError(update.error);
      });
    } catch (failure) {
      setError(failure instanceof ApiError || failure instanceof Error ? failure.message : "The upload failed.");
    }
  }

  function dropped(event: DragEvent) {
    event.preventDefault();
    setDragging(false);
    const file = event.dataTransfer.files[0];
    if (file) void start(file);
  }

  return (
    <section aria-labelledby="upload-title" className="space-y-4">
      <h1 id="upload-title" className="text-2xl font-semibold">
        Upload
      </h1>
      <div
        onDragOver={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={dropped}
        className={`card border-2 border-dashed ${dragging ? "border-sky-500" : "border-slate-300 dark:border-slate-700"}`}
      >
        <label className="block text-sm font-medium">
          Data file
          <input
            type="file"
            accept=".csv,.tsv,.txt,text/csv"
            className="field"
            onChange={(e) => {
              const file = e.target.files?.[0];
              if (file) void start(file);
            }}
          />
        </label>
        <p className="mt-2 text-sm text-slate-600 dark:text-slate-400">Or drop a CSV file here.</p>
      </div>
      {error && (
        <p role="alert" className="alert">
          {error}
        </p>
      )}
      {sent !== null && (
        <div className="card space-y-4" aria-live="polite">
          <p className="text-sm font-medium">{name}</p>
          <Progress label="Upload" value={sent} />
          {stage && <Progress label={`Processing${stage.stage ? ` (${stage.stage})` : ""}`} value={stage.progress} />}
          {stage?.done && !stage.error && (
            <p>
              Done. <a className="underline" href="#/datasets">See it in the datasets</a>.
            </p>
          )}
        </div>
      )}
    </section>
  );
}
