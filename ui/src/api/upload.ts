// Upload with real byte progress (XMLHttpRequest's upload events: fetch has none), then the job's stages
// over the WebSocket /api/v1/ws.
import { errorFrom, newIdempotencyKey, refreshTokens, RETRIED_STATUSES, RETRY_DELAY_MS, type ApiError } from "./client";
import { loadTokens } from "./session";

export interface UploadResult {
  dataset_id: string;
  job_id: string;
  status: string;
  /** The analysis the upload started (its job id), when it asked for one. */
  analysis_id?: string | null;
}

/** What the upload asks besides the file: the form fields POST /api/v1/upload reads. */
export interface UploadOptions {
  /** Column to predict: an analysis starts after ingest. */
  target?: string;
  /** Start an analysis even without a target (unsupervised). */
  analyze?: boolean;
  /** The task, when the user chose one (binary, multiclass, regression, forecast, unsupervised): it is final. */
  task?: string;
  /** AnalysisOptions besides the target: time_budget_s, columns to leave out, columns that identify rows. */
  analysis?: { time_budget_s?: number; exclude_columns?: string[]; id_columns?: string[] };
  /** IngestOptions: type_overrides (column -> semantic type), bad_rows ("reject" or "skip"). */
  ingest?: { type_overrides?: Record<string, string>; bad_rows?: "reject" | "skip" };
}

export function uploadFile(
  file: File,
  onProgress: (sent: number, total: number) => void,
  options: UploadOptions = {},
): Promise<UploadResult> {
  const key = newIdempotencyKey(); // this upload's: each attempt below sends it, so the file is stored once
  const send = (token: string | undefined) =>
    new Promise<{ status: number; body: unknown }>((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "/api/v1/upload");
      if (token) xhr.setRequestHeader("Authorization", `Bearer ${token}`);
      xhr.setRequestHeader("Idempotency-Key", key);
      xhr.upload.onprogress = (event) => {
        if (event.lengthComputable) onProgress(event.loaded, event.total);
      };
      xhr.onload = () => {
        let body: unknown = null;
        try {
          body = JSON.parse(xhr.responseText);
        } catch {
          body = null;
        }
        resolve({ status: xhr.status, body });
      };
      xhr.onerror = () => reject(new Error("The upload failed: the server could not be reached."));
      const form = new FormData();
      // the fields first: the gateway reads them while the file streams to disk
      if (options.target) form.append("target", options.target);
      if (options.analyze) form.append("analyze", "true");
      if (options.task) form.append("task", options.task);
      if (options.analysis && Object.keys(options.analysis).length) form.append("options", JSON.stringify(options.analysis));
      if (options.ingest && Object.keys(options.ingest).length) form.append("ingest_options", JSON.stringify(options.ingest));
      form.append("file", file, file.name);
      xhr.send(form);
    });
  // the network failed or a proxy answered 502-504: the upload may have been stored; sent again with its key,
  // the gateway answers with the first upload's response instead of storing it twice
  const attempt = async (token: string | undefined) => {
    try {
      const answer = await send(token);
      if (!RETRIED_STATUSES.has(answer.status)) return answer;
    } catch {
      // lost: retried below
    }
    await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS));
    return send(token);
  };
  return (async () => {
    let answer = await attempt(loadTokens()?.access_token);
    if (answer.status === 401) {
      const renewed = await refreshTokens();
      if (renewed) answer = await attempt(renewed.access_token);
    }
    if (answer.status < 200 || answer.status >= 300) throw errorFrom(answer.status, answer.body) as ApiError;
    return (answer.body as { data: UploadResult }).data;
  })();
}

export interface StageUpdate {
  stage: string | null;
  progress: number;
  message: string | null;
  done: boolean;
  error: string | null;
  /** Set by dashboard.ready (or a completed job's snapshot). */
  dashboardId?: string | null;
  /** Set by the snapshot of a job and by analysis.completed. */
  modelId?: string | null;
  /** The job's status when a message said it. */
  status?: string | null;
  /** True when the stream closed before the job ended (follow it another way). */
  lost?: boolean;
}

const TERMINAL = new Set(["completed", "failed", "rejected", "cancelled"]);

function text(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}

/** Follow a job's progress stream; returns a function that stops following. */
export function followJob(jobId: string, onUpdate: (update: StageUpdate) => void): () => void {
  const token = loadTokens()?.access_token ?? "";
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const url = `${scheme}//${location.host}/api/v1/ws?job_id=${encodeURIComponent(jobId)}&token=${encodeURIComponent(token)}`;
  const socket = new WebSocket(url);
  let finished = false;
  let last = 0;
  let modelId: string | null = null;
  let dashboardId: string | null = null;
  const finish = (update: StageUpdate) => {
    finished = true;
    onUpdate(update);
    socket.close();
  };
  socket.onmessage = (event) => {
    const m = JSON.parse(String(event.data)) as Record<string, unknown>;
    const progress = typeof m.progress === "number" ? m.progress : last;
    last = progress;
    const stage = text(m.stage);
    const message = text(m.message);
    modelId = text(m.model_id) ?? modelId;
    dashboardId = text(m.dashboard_id) ?? dashboardId;
    const ids = { modelId, dashboardId };
    if (m.type === "job.cancelled" || (m.type === "job.snapshot" && m.status === "cancelled")) {
      finish({ stage, progress, message: "Cancelled", done: true, error: null, status: "cancelled", ...ids });
    } else if (m.type === "error.occurred") {
      if (m.code === "progress_unavailable") {
        finish({ stage, progress, message, done: true, error: null, lost: true, ...ids });
      } else {
        finish({ stage, progress, message, done: true, error: message ?? "The job failed.", status: "failed", ...ids });
      }
    } else if (m.type === "job.snapshot" && typeof m.status === "string" && TERMINAL.has(m.status)) {
      const failed = m.status !== "completed";
      const error = (m.error as { message?: string } | null)?.message ?? "The job failed.";
      finish({
        stage,
        progress: failed ? progress : 1,
        message: m.status,
        done: true,
        error: failed ? error : null,
        status: m.status,
        ...ids,
      });
    } else if (progress >= 1 || m.type === "dashboard.ready" || (m.status === "completed" && m.type !== "job.snapshot")) {
      finish({ stage, progress: 1, message, done: true, error: null, status: "completed", ...ids });
    } else {
      onUpdate({ stage, progress, message, done: false, error: null, status: text(m.status), ...ids });
    }
  };
  socket.onclose = () => {
    if (!finished) onUpdate({ stage: null, progress: last, message: "stream closed", done: true, error: null, lost: true });
  };
  return () => {
    finished = true;
    socket.close();
  };
}
