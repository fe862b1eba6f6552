// Models: the list, a model's card and predictions (GET /api/v1/models, GET /api/v1/models/{id},
// POST /api/v1/models/{id}/predict?explain=true).
import { api, authFetch, errorFrom } from "./client";

export interface Metric {
  name: string;
  value: number | null;
}

export interface ModelItem {
  model_id: string;
  analysis_id: string;
  dataset_id: string;
  dataset_name: string | null;
  target: string | null;
  task: string | null;
  best_model: string | null;
  metric: Metric | null;
  created_at: string;
}

export interface ModelPage {
  items: ModelItem[];
  total: number;
  limit: number;
  offset: number;
}

export interface LeaderboardEntry {
  model: string;
  score_holdout: number | null;
  score_val: number | null;
  fit_time_s: number | null;
  predict_time_s: number | null;
  is_best: boolean;
  /** Metric of `score`, when the analysis reports it per entry. */
  metric?: string | null;
  /** Whether a larger score is better, when the analysis reports it. */
  higher_is_better?: boolean | null;
  /** Holdout score in the metric's own units (errors positive), when the analysis reports it. */
  score?: number | null;
}

export interface Importance {
  feature: string;
  importance: number;
  std?: number | null;
  p_value?: number | null;
}

export interface ModelCard extends ModelItem {
  eval_metric: string | null;
  features: string[];
  input_columns: { name: string; type: string }[];
  leaderboard: LeaderboardEntry[];
  metrics: Record<string, number>;
  confusion_matrix: { labels: string[]; matrix: number[][] } | null;
  train_rows: number | null;
  holdout_rows: number | null;
  feature_importance: Importance[] | null;
  shap_importance: Importance[] | null;
  class_labels: string[] | null;
  example_rows: Record<string, unknown>[];
  available: boolean;
}

export interface PredictionRow {
  prediction: unknown;
  probabilities: Record<string, number> | null;
  contributions: Record<string, number> | null;
  base_value?: number | null;
}

export interface Predictions {
  model_id: string;
  model: string;
  task_type: string;
  target: string;
  rows: PredictionRow[];
  explained_by: string | null;
  shap_output?: string | null;
  warnings?: { code: string; message: string; columns: string[] }[];
  input?: { rows: number; filled: number; coerced: number } | null;
}

export async function listModels(limit: number, offset: number): Promise<ModelPage> {
  const { data, error, response } = await api.GET("/api/v1/models", { params: { query: { limit, offset } } });
  if (error !== undefined || !response.ok) throw errorFrom(response.status, error);
  return (data as { data: ModelPage }).data;
}

export async function getModel(modelId: string): Promise<ModelCard> {
  const { data, error, response } = await api.GET("/api/v1/models/{model_id}", {
    params: { path: { model_id: modelId } },
  });
  if (error !== undefined || !response.ok) throw errorFrom(response.status, error);
  return (data as { data: ModelCard }).data;
}

/** The rows to send: a JSON array of objects ({"rows": [...]} too), or CSV text (header and lines). */
export type RowsInput = { kind: "json"; rows: Record<string, unknown>[] } | { kind: "csv"; text: string };

/** Read what a person pasted; throws an Error in plain words when it is neither CSV nor a JSON array of objects. */
export function parseRows(text: string): RowsInput {
  const trimmed = text.trim();
  if (!trimmed) throw new Error("Paste rows first: a CSV header and lines, or a JSON array of objects.");
  if (trimmed.startsWith("[") || trimmed.startsWith("{")) {
    let value: unknown;
    try {
      value = JSON.parse(trimmed);
    } catch (failure) {
      throw new Error(`The rows are not valid JSON: ${(failure as Error).message}`);
    }
    const rows = Array.isArray(value) ? value : (value as { rows?: unknown }).rows;
    if (!Array.isArray(rows) || rows.length === 0 || !rows.every((r) => r && typeof r === "object" && !Array.isArray(r))) {
      throw new Error("The JSON must be an array of objects, one per row, such as [{\"column\": 1}].");
    }
    return { kind: "json", rows: rows as Record<string, unknown>[] };
  }
  const lines = trimmed.split(/\r?\n/).filter((line) => line.trim() !== "");
  if (lines.length < 2) throw new Error("The CSV needs a header line and at least one row.");
  return { kind: "csv", text: lines.join("\n") + "\n" };
}

function csvCell(value: unknown): string {
  if (value === null || value === undefined) return "";
  const text = typeof value === "object" ? JSON.stringify(value) : String(value);
  return /[",\r\n]/.test(text) || text !== text.trim() ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Rows as CSV text: a header of every column, then one line per row. */
export function toCsv(rows: Record<string, unknown>[]): string {
  const columns = [...new Set(rows.flatMap((row) => Object.keys(row)))];
  return [columns, ...rows.map((row) => columns.map((c) => row[c]))]
    .map((cells) => cells.map(csvCell).join(","))
    .join("\n");
}

/** A file's text (FileReader where Blob.text is missing). */
function readText(file: File): Promise<string> {
  if (typeof file.text === "function") return file.text();
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result ?? ""));
    reader.onerror = () => reject(new Error(`The file ${file.name} could not be read.`));
    reader.readAsText(file);
  });
}

/** Predict with SHAP explanations; the body is CSV (a pasted text or a file) or JSON rows. */
export async function predict(modelId: string, input: RowsInput | File): Promise<Predictions> {
  const url = `${location.origin}/api/v1/models/${encodeURIComponent(modelId)}/predict?explain=true`;
  const request =
    input instanceof File
      ? new Request(url, { method: "POST", headers: { "Content-Type": "text/csv" }, body: await readText(input) })
      : input.kind === "csv"
        ? new Request(url, { method: "POST", headers: { "Content-Type": "text/csv" }, body: input.text })
        : new Request(url, {
            method: "POST",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ rows: input.rows }),
          });
  const response = await authFetch(request);
  const body: unknown = await response.json().catch(() => null);
  if (!response.ok) throw errorFrom(response.status, body);
  return (body as { data: Predictions }).data;
}
