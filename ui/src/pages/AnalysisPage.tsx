import { useEffect, useRef, useState } from "react";
import { api } from "../api/client";
import { dashboardViewLink, downloadExport, getAnalysis, type Analysis, type ExportFormat } from "../api/data";
import { apiMessage } from "../api/failure";
import { followJob, type StageUpdate } from "../api/upload";
import { Breadcrumb } from "../components/Breadcrumb";
import { CancelJob } from "../components/CancelJob";
import { ErrorAlert } from "../components/ErrorAlert";
import { Progress } from "../components/Progress";
import { Status } from "../components/Status";
import { useCan } from "../api/me";
import { hashOf } from "../router";

const POLL_MS = 3000;
/** Renew the "Open dashboard" link this long before it expires. */
const RENEW_BEFORE_S = 30;

const DOWNLOADS: { format: ExportFormat; label: string }[] = [
  { format: "csv", label: "Cleaned data (CSV)" },
  { format: "parquet", label: "Cleaned data (Parquet)" },
  { format: "html", label: "Dashboard (HTML)" },
  { format: "pdf", label: "Report (PDF)" },
  { format: "zip", label: "Dashboard and charts (zip)" },
  { format: "profile", label: "Profile (JSON)" },
  { format: "analysis", label: "Analysis (JSON)" },
  { format: "etl_report", label: "Cleaning report (JSON)" },
  { format: "pipeline", label: "Cleaning pipeline (JSON)" },
];

export function AnalysisPage({ id }: { id: string }) {
  const [analysis, setAnalysis] = useState<Analysis | null>(null);
  const [live, setLive] = useState<StageUpdate | null>(null);
  const [error, setError] = useState<string | null>(null);
  const canWrite = useCan("write");

  useEffect(() => {
    let active = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stop: (() => void) | undefined;
    setAnalysis(null);
    setLive(null);
    setError(null);
    const settled = (a: Analysis) =>
      a.status === "failed" || a.status === "cancelled" || (a.status === "completed" && a.dashboard_id !== null);
    async function poll() {
      try {
        const a = await getAnalysis(id);
        if (!active) return;
        setAnalysis(a);
        if (!settled(a)) timer = setTimeout(() => void poll(), POLL_MS);
      } catch (failure) {
        if (active) setError(apiMessage(failure, "The analysis could not be loaded."));
      }
    }
    async function start() {
      try {
        const a = await getAnalysis(id);
        if (!active) return;
        setAnalysis(a);
        if (settled(a)) return;
        stop = followJob(id, (update) => {
          if (!active) return;
          setLive(update);
          if (!update.done) return;
          // the job ended, or the stream was lost: the API says where it stands, polling until it settles
          void poll();
        });
      } catch (failure) {
        if (active) setError(apiMessage(failure, "The analysis could not be loaded."));
      }
    }
    void start();
    return () => {
      active = false;
      clearTimeout(timer);
      stop?.();
    };
  }, [id]);

  if (error) return <ErrorAlert message={error} />;
  if (!analysis) return <p>Loading…</p>;
  const progress = Math.max(analysis.progress ?? 0, live?.progress ?? 0);
  const stage = live?.stage ?? analysis.stage;
  const task = analysis.results?.task;
  const cancelled = analysis.status === "cancelled" || live?.status === "cancelled";
  const failed = analysis.status === "failed";
  const ready = analysis.status === "completed" && analysis.dashboard_id !== null;
  const running = analysis.status === "queued" || analysis.status === "running";
  return (
    <article aria-labelledby="analysis-title" className="space-y-6">
      <header className="space-y-2">
        <Breadcrumb href={hashOf({ page: "dataset", id: analysis.dataset_id })} label="The dataset" />
        <h1 id="analysis-title" className="text-2xl font-semibold">
          Analysis
        </h1>
        <p className="flex flex-wrap items-center gap-3 text-sm">
          <Status value={cancelled ? "cancelled" : analysis.status} />
          {task?.task_type && (
            <span>
              Task: {task.task_type.replace("_", " ")}
              {task.target ? ` of ${task.target}` : ""}
            </span>
          )}
          {analysis.model_id && (
            <a className="underline" href={hashOf({ page: "model", id: analysis.model_id })}>
              Open the model
            </a>
          )}
        </p>
        {task?.reason && <p className="text-sm text-slate-600 dark:text-slate-400">{task.reason}</p>}
      </header>
      {failed && (
        <p role="alert" className="alert">
          The analysis failed: {analysis.error?.message ?? live?.error ?? "no reason was given."}
        </p>
      )}
      {cancelled && (
        <p role="status" className="card">
          Cancelled. Nothing more is made for this analysis; start another from the dataset.
        </p>
      )}
      {!cancelled && !failed && !ready && (
        <div className="card space-y-2" aria-live="polite">
          <Progress label={`Analysing${stage ? ` (${stage})` : ""}`} value={progress} />
          {analysis.status === "completed" && <p>The dashboard is being made…</p>}
          {canWrite && running && (
            <CancelJob jobId={analysis.id} onCancelled={() => setAnalysis({ ...analysis, status: "cancelled" })} />
          )}
        </div>
      )}
      {ready && analysis.dashboard_id && <Dashboard analysisId={analysis.id} dashboardId={analysis.dashboard_id} />}
    </article>
  );
}

function Dashboard({ analysisId, dashboardId }: { analysisId: string; dashboardId: string }) {
  const [frameUrl, setFrameUrl] = useState<string | null>(null);
  const [linkUrl, setLinkUrl] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [hasPdf, setHasPdf] = useState(false);

  useEffect(() => {
    let active = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    async function renew(first: boolean) {
      try {
        const link = await dashboardViewLink(dashboardId);
        if (!active) return;
        if (first) setFrameUrl(link.url); // the frame keeps its page; only the link needs a fresh token
        setLinkUrl(link.url);
        const wait = Math.max(5, link.expires_at - Date.now() / 1000 - RENEW_BEFORE_S) * 1000;
        timer = setTimeout(() => void renew(false), wait);
      } catch (failure) {
        if (active) setError(apiMessage(failure, "The dashboard could not be opened."));
      }
    }
    void renew(true);
    void api
      .GET("/api/v1/dashboard/{dashboard_id}", {
        params: { path: { dashboard_id: dashboardId } },
        headers: { Accept: "application/json" },
      })
      .then(({ data }) => active && setHasPdf(Boolean((data as { data?: { has_pdf?: boolean } } | undefined)?.data?.has_pdf)))
      .catch(() => undefined);
    return () => {
      active = false;
      clearTimeout(timer);
    };
  }, [dashboardId]);

  return (
    <>
      <section aria-labelledby="dashboard-title" className="space-y-3">
        <div className="flex flex-wrap items-center justify-between gap-2">
          <h2 id="dashboard-title" className="text-xl font-semibold">
            Dashboard
          </h2>
          {linkUrl && (
            <a className="btn" href={linkUrl} target="_blank" rel="noopener noreferrer">
              Open dashboard
            </a>
          )}
        </div>
        <ErrorAlert message={error} />
        {frameUrl && (
          <iframe
            title="Dashboard"
            src={frameUrl}
            sandbox="allow-scripts"
            referrerPolicy="no-referrer"
            className="h-[70vh] min-h-[24rem] w-full rounded-lg border border-slate-200 bg-white dark:border-slate-800"
          />
        )}
      </section>
      <Downloads analysisId={analysisId} hasPdf={hasPdf} />
    </>
  );
}

function Downloads({ analysisId, hasPdf }: { analysisId: string; hasPdf: boolean }) {
  const [busy, setBusy] = useState<ExportFormat | null>(null);
  const [status, setStatus] = useState<string>("");
  const [error, setError] = useState<string | null>(null);
  const live = useRef(true);
  useEffect(
    () => () => {
      live.current = false;
    },
    [],
  );

  async function download(format: ExportFormat, label: string) {
    setBusy(format);
    setError(null);
    setStatus(`Downloading ${label}…`);
    try {
      const name = await downloadExport(analysisId, format);
      if (live.current) setStatus(`Saved ${name}.`);
    } catch (failure) {
      if (live.current) {
        setStatus("");
        setError(apiMessage(failure, `${label} could not be downloaded.`));
      }
    } finally {
      if (live.current) setBusy(null);
    }
  }

  return (
    <section aria-labelledby="downloads-title" className="space-y-3">
      <h2 id="downloads-title" className="text-xl font-semibold">
        Downloads
      </h2>
      <ul className="flex flex-wrap gap-2">
        {DOWNLOADS.filter((d) => d.format !== "pdf" || hasPdf).map((d) => (
          <li key={d.format}>
            <button type="button" className="btn-quiet" disabled={busy !== null} onClick={() => void download(d.format, d.label)}>
              <span aria-hidden="true" className="mr-1">
                ↓
              </span>
              {d.label}
            </button>
          </li>
        ))}
      </ul>
      <p role="status" className="text-sm">
        {status}
      </p>
      <ErrorAlert message={error} />
    </section>
  );
}
