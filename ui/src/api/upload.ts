// Upload with real byte progress (XMLHttpRequest's upload events: fetch has none), then the job's stages
// over the WebSocket /api/v1/ws.
import { errorFrom, refreshTokens, type ApiError } from "./client";
import { loadTokens } from "./session";

export interface UploadResult {
  dataset_id: string;
  job_id: string;
  status: string;
}

export function uploadFile(file: File, onProgress: (sent: number, total: number) => void): Promise<UploadResult> {
  const attempt = (token: string | undefined) =>
    new Promise<{ status: number; body: unknown }>((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "/api/v1/upload");
      if (token) xhr.setRequestHeader("Authorization", `Bearer ${token}`);
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
      form.append("file", file, file.name);
      xhr.send(form);
    });
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
}

const TERMINAL = new Set(["completed", "failed", "rejected", "cancelled"]);

/** Follow a job's progress stream; returns a function that stops following. */
export function followJob(jobId: string, onUpdate: (update: StageUpdate) => void): () => void {
  const token = loadTokens()?.access_token ?? "";
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const url = `${scheme}//${location.host}/api/v1/ws?job_id=${encodeURIComponent(jobId)}&token=${encodeURIComponent(token)}`;
  const socket = new WebSocket(url);
  let finished = false;
  let last = 0;
  const finish = (update: StageUpdate) => {
    finished = true;
    onUpdate(update);
    socket.close();
  };
  socket.onmessage = (event) => {
    const m = JSON.parse(String(event.data)) as Record<string, unknown>;
    const progress = typeof m.progress === "number" ? m.progress : last;
    last = progress;
    const stage = typeof m.stage === "string" ? m.stage : null;
    const message = typeof m.message === "string" ? m.message : null;
    if (m.type === "error.occurred") {
      finish({ stage, progress, message, done: true, error: message ?? "The job failed." });
    } else if (m.type === "job.snapshot" && typeof m.status === "string" && TERMINAL.has(m.status)) {
      const failed = m.status !== "completed";
      const error = (m.error as { message?: string } | null)?.message ?? "The job failed.";
      finish({ stage, progress: failed ? progress : 1, message: m.status, done: true, error: failed ? error : null });
    } else if (progress >= 1 || m.type === "dashboard.ready") {
      finish({ stage, progress: 1, message, done: true, error: null });
    } else {
      onUpdate({ stage, progress, message, done: false, error: null });
    }
  };
  socket.onclose = () => {
    if (!finished) onUpdate({ stage: null, progress: last, message: "stream closed", done: true, error: null });
  };
  return () => {
    finished = true;
    socket.close();
  };
}
