// Datasets, their profile and ingest report, analyses, dashboards and downloads: typed calls of the gateway API.
import { api, authFetch, errorFrom, newIdempotencyKey } from "./client";
import type { components } from "./schema";

export type SemanticType = NonNullable<components["schemas"]["ReingestRequest"]["type_overrides"]>[string];

/** Every semantic type the API accepts for an override, in the API's order (checked against the schema). */
export const SEMANTIC_TYPES = [
  "identifier",
  "categorical",
  "integer",
  "float",
  "boolean",
  "date",
  "datetime",
  "text",
  "email",
  "url",
  "currency",
  "percent",
  "latitude",
  "longitude",
] as const satisfies readonly SemanticType[];
// fails to compile when the API gains a type this list lacks
const _allTypes: Exclude<SemanticType, (typeof SEMANTIC_TYPES)[number]> extends never ? true : false = true;
void _allTypes;

export interface ColumnSummary {
  name: string;
  semantic_type: string;
  physical_type: string;
}

export interface Dataset {
  dataset_id: string;
  /** The dataset's name (from the uploaded file's), as the list gives it. */
  display_name: string;
  status: string;
  size_bytes: number;
  row_count: number | null;
  columns: ColumnSummary[] | null;
  quality_score: number | null;
  error: { code?: string; message?: string; details?: Record<string, unknown> } | null;
  /** failed: a validation rule of severity error is broken (the dataset is analysed all the same); null: no rule. */
  validation_status?: ValidationStatus | null;
  validation?: ValidationSummary | null;
  upload_job_id: string | null;
  created_at: string;
  updated_at: string;
}

export type ValidationStatus = "passed" | "warnings" | "failed";

/** One validation rule's result, as the dataset's `validation` gives it. */
export interface ValidationRule {
  name: string;
  kind: string;
  columns: string[];
  severity: "error" | "warning";
  passed: boolean;
  failed_count: number;
  failed_fraction: number;
  sample_lines: number[];
  message: string;
}

export interface ValidationSummary {
  status: ValidationStatus;
  rows_checked: number;
  rules_checked: number;
  errors_failed: number;
  warnings_failed: number;
  rules: ValidationRule[];
}

export interface QualityComponent {
  name: string;
  score: number;
  weight: number;
  detail: string;
}

export interface Alert {
  type: string;
  columns: string[];
  severity: string;
  message: string;
}

export interface Profile {
  dataset: {
    rows: number;
    columns: number;
    cells: number;
    cells_missing: number;
    cells_missing_fraction: number;
    duplicate_rows: number;
    duplicate_fraction: number;
  };
  columns: { name: string; semantic_type: string; missing: number; distinct: number }[];
  alerts: Alert[];
  quality: { score: number; components: QualityComponent[] };
  /** The figures estimated rather than counted; empty or absent when every figure is exact. */
  approximations?: Approximation[];
}

export type Approximation = components["schemas"]["Approximation"];

export interface RuleResult {
  name: string;
  kind: string;
  columns: string[];
  passed: boolean;
  failing_count: number;
  sample_lines: number[];
  severity: "error" | "warning";
  message: string;
}

export interface IngestReport {
  encoding: string;
  delimiter: string;
  has_header: boolean;
  row_count: number;
  columns: { name: string; semantic_type: string; confidence: number; overridden: boolean; unparseable_count: number }[];
  bad_rows: { count: number; policy: string; sample: { line_number: number; reason: string }[] };
  validation: RuleResult[];
  warnings: string[];
}

export interface Analysis {
  id: string;
  kind: string;
  dataset_id: string;
  status: "queued" | "running" | "completed" | "failed" | "cancelled";
  stage: string | null;
  progress: number | null;
  error: { code: string; message: string } | null;
  dashboard_id: string | null;
  model_id: string | null;
  results?: { task?: { task_type?: string; target?: string | null; reason?: string } } & Record<string, unknown>;
}

function unwrap<T>(result: { data?: unknown; error?: unknown; response: Response }): T {
  if (result.error !== undefined || !result.response.ok) throw errorFrom(result.response.status, result.error);
  const body = result.data as { data?: T } | T;
  return (body && typeof body === "object" && "data" in body ? (body as { data: T }).data : body) as T;
}

export async function getDataset(id: string): Promise<Dataset> {
  return unwrap(await api.GET("/api/v1/datasets/{dataset_id}", { params: { path: { dataset_id: id } } }));
}

/** The profile; null while the dataset has none yet (409). */
export async function getProfile(id: string): Promise<Profile | null> {
  const result = await api.GET("/api/v1/datasets/{dataset_id}/profile", { params: { path: { dataset_id: id } } });
  if (result.response.status === 409) return null;
  return unwrap(result);
}

/** The ingest report; null while the dataset has none yet (409). */
export async function getIngestReport(id: string): Promise<IngestReport | null> {
  const result = await api.GET("/api/v1/datasets/{dataset_id}/ingest-report", {
    params: { path: { dataset_id: id } },
  });
  if (result.response.status === 409) return null;
  return unwrap(result);
}

export async function deleteDataset(id: string): Promise<void> {
  unwrap(await api.DELETE("/api/v1/datasets/{dataset_id}", { params: { path: { dataset_id: id } } }));
}

export interface Started {
  dataset_id: string;
  job_id: string;
  status: string;
}

/** Read the dataset's stored file again with these column types: a new dataset and upload job (a retry of this
 * re-ingest, with its Idempotency-Key, gets the same dataset and job). */
export async function reingest(id: string, overrides: Record<string, SemanticType>): Promise<Started> {
  const header = { "Idempotency-Key": newIdempotencyKey() };
  return unwrap(
    await api.POST("/api/v1/datasets/{dataset_id}/reingest", {
      params: { path: { dataset_id: id }, header },
      body: { type_overrides: overrides },
    }),
  );
}

export async function analyze(
  datasetId: string,
  target: string | null,
  options: { time_budget_s?: number; exclude_columns?: string[]; id_columns?: string[] },
  task?: "binary" | "multiclass" | "regression" | "forecast" | "unsupervised",
): Promise<{ analysis_id: string }> {
  const body = { dataset_id: datasetId, target, options, ...(task ? { task } : {}) };
  const header = { "Idempotency-Key": newIdempotencyKey() };
  return unwrap(await api.POST("/api/v1/analyze", { body, params: { header } }));
}

export async function getAnalysis(id: string): Promise<Analysis> {
  return unwrap(await api.GET("/api/v1/analysis/{analysis_id}", { params: { path: { analysis_id: id } } }));
}

/** Cancel one of your jobs that has not ended: it ends at once as cancelled (409 once it has ended; a retry of
 * this cancel, with its Idempotency-Key, gets its 202 again). */
export async function cancelJob(jobId: string): Promise<{ id: string; status: string }> {
  const header = { "Idempotency-Key": newIdempotencyKey() };
  return unwrap(await api.POST("/api/v1/jobs/{job_id}/cancel", { params: { path: { job_id: jobId }, header } }));
}

/** A short-lived URL that opens the dashboard without an Authorization header (iframe, new tab). */
export async function dashboardViewLink(dashboardId: string): Promise<{ url: string; expires_at: number }> {
  return unwrap(
    await api.POST("/api/v1/dashboard/{dashboard_id}/view-link", { params: { path: { dashboard_id: dashboardId } } }),
  );
}

export type ExportFormat = "csv" | "parquet" | "html" | "pdf" | "zip" | "profile" | "analysis" | "etl_report" | "pipeline";

/** Download an export of an analysis: fetched with the session, then saved from a blob URL. */
export async function downloadExport(analysisId: string, format: ExportFormat): Promise<string> {
  const response = await authFetch(
    new Request(`${location.origin}/api/v1/export`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ analysis_id: analysisId, format }),
    }),
  );
  if (!response.ok) {
    let body: unknown = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    throw errorFrom(response.status, body);
  }
  const disposition = response.headers.get("Content-Disposition") ?? "";
  const name = /filename="([^"]+)"/.exec(disposition)?.[1] ?? `export.${format}`;
  const blob = await response.blob();
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return name;
}
