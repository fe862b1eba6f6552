import { useState, type FormEvent } from "react";
import {
  analyze,
  getDataset,
  getIngestReport,
  getProfile,
  reingest,
  type Dataset,
  type IngestReport,
  type Profile,
  type SemanticType,
  type ValidationStatus,
  type ValidationSummary,
} from "../api/data";
import { apiMessage } from "../api/failure";
import { useCan } from "../api/me";
import { useLoad } from "../api/useLoad";
import { Breadcrumb } from "../components/Breadcrumb";
import { ErrorAlert } from "../components/ErrorAlert";
import { Field } from "../components/Field";
import { BudgetField, TaskSelect, TypeSelect, type Task } from "../components/Inputs";
import { Status } from "../components/Status";
import { Table } from "../components/Table";
import { go, hashOf } from "../router";

const POLL_MS = 2000;
const SETTLED = new Set(["profiled", "rejected", "failed"]);

const percent = (fraction: number) => `${(fraction * 100).toFixed(1)}%`;

/** The dataset, and its profile and ingest report once the file has been read. */
async function loadDataset(id: string): Promise<{ dataset: Dataset; profile: Profile | null; report: IngestReport | null }> {
  const dataset = await getDataset(id);
  if (dataset.status === "uploaded" || dataset.status === "rejected") return { dataset, profile: null, report: null };
  // the profile exists once the dataset is profiled: asking earlier only gets a 409 (and a console error)
  const [profile, report] = await Promise.all([
    dataset.status === "profiled" ? getProfile(id) : Promise.resolve(null),
    getIngestReport(id).catch(() => null),
  ]);
  return { dataset, profile, report };
}

export function DatasetPage({ id }: { id: string }) {
  const canWrite = useCan("write");
  const { data, error } = useLoad(() => loadDataset(id), [id], {
    fallback: "The dataset could not be loaded.",
    again: (loaded) => (SETTLED.has(loaded.dataset.status) ? null : POLL_MS),
  });

  if (error) return <ErrorAlert message={error} />;
  if (!data) return <p>Loading…</p>;
  const { dataset, profile, report } = data;
  const columns = dataset.columns ?? [];
  return (
    <article aria-labelledby="dataset-title" className="space-y-6">
      <header className="space-y-2">
        <Breadcrumb href="#/datasets" label="Datasets" />
        <h1 id="dataset-title" className="break-words text-2xl font-semibold">
          {dataset.display_name}
        </h1>
        <p className="flex flex-wrap items-center gap-3 text-sm">
          <Status value={dataset.status} />
          {dataset.validation_status && <Status value={VALIDATION_BADGE[dataset.validation_status]} />}
          <span>
            {dataset.row_count?.toLocaleString() ?? "—"} rows × {columns.length || "—"} columns
          </span>
          <span>
            Quality score: {dataset.quality_score == null ? "—" : dataset.quality_score.toFixed(1)}
          </span>
          <span>
            Uploaded <time dateTime={dataset.created_at}>{new Date(dataset.created_at).toLocaleString()}</time>
          </span>
        </p>
        <ErrorAlert message={dataset.error?.message} />
        {dataset.status === "uploaded" && <p role="status">The file is being read…</p>}
      </header>

      {columns.length > 0 && <Schema dataset={dataset} canWrite={canWrite} />}
      {profile && <ProfileSummary profile={profile} />}
      {profile && <Alerts profile={profile} />}
      {(report || dataset.validation) && <Validation report={report} summary={dataset.validation ?? null} />}
      {canWrite && columns.length > 0 && dataset.status !== "rejected" && <AnalyzeForm dataset={dataset} />}
    </article>
  );
}

function Section({ id, title, children }: { id: string; title: string; children: React.ReactNode }) {
  return (
    <section aria-labelledby={id} className="space-y-3">
      <h2 id={id} className="text-xl font-semibold">
        {title}
      </h2>
      {children}
    </section>
  );
}

const cell = "border-t border-slate-200 px-3 py-2 dark:border-slate-800";

function Schema({ dataset, canWrite }: { dataset: Dataset; canWrite: boolean }) {
  const [types, setTypes] = useState<Record<string, SemanticType>>({});
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const columns = dataset.columns ?? [];
  const changed = Object.entries(types).filter(([name, type]) => columns.find((c) => c.name === name)?.semantic_type !== type);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const started = await reingest(dataset.dataset_id, Object.fromEntries(changed));
      go({ page: "dataset", id: started.dataset_id });
    } catch (failure) {
      setError(apiMessage(failure, "The dataset could not be read again."));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Section id="schema-title" title="Schema">
      <form onSubmit={(e) => void submit(e)} className="space-y-3">
        <Table caption="Columns with their inferred types" head={["Column", "Inferred type", "Stored as", ...(canWrite ? ["Type"] : [])]}>
          {columns.map((c) => (
            <tr key={c.name}>
              <th scope="row" className={`${cell} font-medium`}>
                {c.name}
              </th>
              <td className={cell}>{c.semantic_type}</td>
              <td className={`${cell} font-mono text-xs`}>{c.physical_type}</td>
              {canWrite && (
                <td className={cell}>
                  <TypeSelect
                    label={`Type of ${c.name}`}
                    className="field mt-0 py-1"
                    value={types[c.name] ?? c.semantic_type}
                    onChange={(type) => setTypes({ ...types, [c.name]: type as SemanticType })}
                  />
                </td>
              )}
            </tr>
          ))}
        </Table>
        {canWrite && (
          <div className="flex flex-wrap items-center gap-3">
            <button type="submit" className="btn" disabled={busy || changed.length === 0}>
              Re-ingest
            </button>
            <span className="text-sm text-slate-600 dark:text-slate-400">
              {changed.length === 0
                ? "Change a column's type to read the file again with it."
                : `Reads the stored file again as a new dataset, with ${changed.length} type${changed.length > 1 ? "s" : ""} changed.`}
            </span>
          </div>
        )}
        <ErrorAlert message={error} />
      </form>
    </Section>
  );
}

function Figure({ label, value }: { label: string; value: string }) {
  return (
    <div className="card p-4">
      <dt className="text-sm text-slate-600 dark:text-slate-400">{label}</dt>
      <dd className="text-xl font-semibold tabular-nums">{value}</dd>
    </div>
  );
}

function ProfileSummary({ profile }: { profile: Profile }) {
  const d = profile.dataset;
  return (
    <Section id="profile-title" title="Profile">
      <dl className="grid grid-cols-2 gap-3 sm:grid-cols-5">
        <Figure label="Rows" value={d.rows.toLocaleString()} />
        <Figure label="Columns" value={d.columns.toLocaleString()} />
        <Figure label="Missing cells" value={`${d.cells_missing.toLocaleString()} (${percent(d.cells_missing_fraction)})`} />
        <Figure label="Duplicate rows" value={`${d.duplicate_rows.toLocaleString()} (${percent(d.duplicate_fraction)})`} />
        <Figure label="Quality score" value={profile.quality.score.toFixed(1)} />
      </dl>
      <Table caption="The parts of the quality score" head={["Part", "Score", "Weight", "Why"]}>
        {profile.quality.components.map((c) => (
          <tr key={c.name}>
            <th scope="row" className={`${cell} font-medium capitalize`}>
              {c.name}
            </th>
            <td className={`${cell} tabular-nums`}>{c.score.toFixed(1)}</td>
            <td className={`${cell} tabular-nums`}>{percent(c.weight)}</td>
            <td className={`${cell} min-w-[16rem]`}>{c.detail}</td>
          </tr>
        ))}
      </Table>
      <Approximations profile={profile} />
    </Section>
  );
}

/** The figures the profile estimated rather than counted (sketches past its exact-size threshold, sampled
 * correlations), each with its method and bound; nothing when every figure is exact. */
function Approximations({ profile }: { profile: Profile }) {
  const estimated = profile.approximations ?? [];
  if (estimated.length === 0) return <p className="mt-3 text-sm">Every figure of this profile is exact.</p>;
  return (
    <Table caption="Figures estimated rather than counted, and how far off they can be" head={["Figure", "Columns", "Method", "Bound"]}>
      {estimated.map((a, i) => (
        <tr key={`${a.statistic}-${i}`}>
          <th scope="row" className={`${cell} font-medium`}>
            {a.statistic}
          </th>
          <td className={cell}>{(a.columns ?? []).length > 0 ? (a.columns ?? []).join(", ") : "all"}</td>
          <td className={cell}>{a.method}</td>
          <td className={`${cell} min-w-[16rem]`}>{a.error_bound}</td>
        </tr>
      ))}
    </Table>
  );
}

const SEVERITY_ICON: Record<string, string> = { critical: "✕", warning: "▲", info: "ℹ" };
const RANK: Record<string, number> = { critical: 0, warning: 1, info: 2 };

function Alerts({ profile }: { profile: Profile }) {
  return (
    <Section id="alerts-title" title={`Alerts (${profile.alerts.length})`}>
      {profile.alerts.length === 0 ? (
        <p>The profile raised no alert.</p>
      ) : (
        <ul className="space-y-2">
          {[...profile.alerts].sort((a, b) => (RANK[a.severity] ?? 3) - (RANK[b.severity] ?? 3)).map((a, i) => (
            <li key={i} className="card flex gap-3 p-3 text-sm">
              <span aria-hidden="true">{SEVERITY_ICON[a.severity] ?? "●"}</span>
              <span>
                <strong className="uppercase">{a.severity}</strong> · {a.type.replace(/_/g, " ").toLowerCase()}
                {a.columns.length > 0 && <> · {a.columns.join(", ")}</>}: {a.message}
              </span>
            </li>
          ))}
        </ul>
      )}
    </Section>
  );
}

const VALIDATION_BADGE: Record<ValidationStatus, string> = {
  failed: "failed validation",
  warnings: "validation warnings",
  passed: "passed validation",
};

const plural = (n: number, word: string) => `${n.toLocaleString()} ${word}${n === 1 ? "" : "s"}`;

/** The verdict in words: what broke, of how many rules on how many rows, and what it means for the analysis. */
function verdict(summary: ValidationSummary): string {
  const broken = summary.errors_failed + summary.warnings_failed;
  const checked = `${plural(summary.rules_checked, "rule")} checked on ${plural(summary.rows_checked, "row")}`;
  if (broken === 0) return `Every row passes: ${checked}.`;
  return (
    `${plural(summary.errors_failed, "error rule")} and ${plural(summary.warnings_failed, "warning rule")} broken, of ${checked}. ` +
    "The analysis still runs on every row; broken rules lower the quality score's validity."
  );
}

interface RuleRow {
  name: string;
  kind: string;
  columns: string[];
  passed: boolean;
  severity: string;
  failing: number;
  lines: number[];
}

function Validation({ report, summary }: { report: IngestReport | null; summary: ValidationSummary | null }) {
  // the dataset's own verdict first (the API's field); the ingest report for datasets read before it existed
  const rows: RuleRow[] = summary
    ? summary.rules.map((r) => ({ ...r, failing: r.failed_count, lines: r.sample_lines }))
    : (report?.validation ?? []).map((r) => ({ ...r, failing: r.failing_count, lines: r.sample_lines }));
  return (
    <Section id="validation-title" title="Validation">
      {summary && (
        <p className="flex flex-wrap items-center gap-2 text-sm">
          <Status value={VALIDATION_BADGE[summary.status]} />
          <span>{verdict(summary)}</span>
        </p>
      )}
      {rows.length === 0 ? (
        <p>No validation rules were given with the upload.</p>
      ) : (
        <Table caption="Validation rules and their results" head={["Rule", "Kind", "Columns", "Result", "Failing rows", "First lines"]}>
          {rows.map((r) => (
            <tr key={r.name}>
              <th scope="row" className={`${cell} font-medium`}>
                {r.name}
              </th>
              <td className={cell}>{r.kind}</td>
              <td className={cell}>{r.columns.join(", ")}</td>
              <td className={cell}>
                <Status value={r.passed ? "passed" : "failed"} />
                {!r.passed && <span className="ml-1 text-xs">({r.severity})</span>}
              </td>
              <td className={`${cell} tabular-nums`}>
                {r.failing.toLocaleString()}
                {summary && r.failing > 0 && ` (${percent(r.failing / Math.max(summary.rows_checked, 1))})`}
              </td>
              <td className={`${cell} tabular-nums`}>{r.lines.join(", ")}</td>
            </tr>
          ))}
        </Table>
      )}
      {report && (
        <p className="text-sm">
          Read as {report.encoding}, fields separated by {report.delimiter === "\t" ? "tabs" : `“${report.delimiter}”`},{" "}
          {report.has_header ? "with" : "without"} a header row.{" "}
          {report.bad_rows.count > 0
            ? `${report.bad_rows.count} row(s) had the wrong number of fields (${report.bad_rows.policy === "skip" ? "skipped" : "rejected"}): lines ${report.bad_rows.sample.map((b) => b.line_number).join(", ")}.`
            : "Every row had the header's number of fields."}
        </p>
      )}
      {report && report.warnings.length > 0 && (
        <ul className="list-disc space-y-1 pl-6 text-sm">
          {report.warnings.map((w, i) => (
            <li key={i}>{w}</li>
          ))}
        </ul>
      )}
    </Section>
  );
}

function AnalyzeForm({ dataset }: { dataset: Dataset }) {
  const columns = dataset.columns ?? [];
  const [target, setTarget] = useState("");
  const [task, setTask] = useState<Task>("");
  const [budget, setBudget] = useState("60");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    const seconds = Number(budget);
    if (!Number.isFinite(seconds) || seconds <= 0) {
      setError("The time budget is a number of seconds above 0.");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const started = await analyze(
        dataset.dataset_id,
        task === "unsupervised" || !target ? null : target,
        { time_budget_s: seconds },
        task || undefined,
      );
      go({ page: "analysis", id: started.analysis_id });
    } catch (failure) {
      setError(apiMessage(failure, "The analysis could not be started."));
      setBusy(false);
    }
  }

  return (
    <Section id="analyze-title" title="Analyze">
      <form onSubmit={(e) => void submit(e)} className="card space-y-4" noValidate>
        <div className="grid gap-4 sm:grid-cols-3">
          <Field label="Target">
            <select
              className="field"
              value={target}
              disabled={task === "unsupervised"}
              onChange={(e) => setTarget(e.target.value)}
            >
              <option value="">None (suggested from the data)</option>
              {columns.map((c) => (
                <option key={c.name} value={c.name}>
                  {c.name}
                </option>
              ))}
            </select>
          </Field>
          <Field label="Task">
            <TaskSelect value={task} onChange={setTask} />
          </Field>
          <BudgetField value={budget} onChange={setBudget} />
        </div>
        <button type="submit" className="btn" disabled={busy}>
          Analyze
        </button>
        <ErrorAlert message={error} />
        <p className="text-sm text-slate-600 dark:text-slate-400">
          Detect picks the task (binary, multiclass, regression, forecast) from the target and the data; any other
          choice is final, and a target that cannot serve it is refused. The analysis page says which.{" "}
          <a className="underline" href={hashOf({ page: "datasets" })}>
            Back to the datasets
          </a>
        </p>
      </form>
    </Section>
  );
}
