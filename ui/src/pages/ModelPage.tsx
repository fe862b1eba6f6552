import { useId, useRef, useState, type FormEvent, type ReactNode } from "react";
import { errorMessage } from "../api/failure";
import { useCan } from "../api/me";
import { getModel, parseRows, predict, toCsv, type LeaderboardEntry, type ModelCard, type Predictions } from "../api/models";
import { useLoad } from "../api/useLoad";
import { Breadcrumb } from "../components/Breadcrumb";
import { ErrorAlert } from "../components/ErrorAlert";
import { ShapWaterfall, formatValue } from "../components/ShapWaterfall";
import { ROW, Table } from "../components/Table";
import { hashOf } from "../router";
import { metricText } from "./ModelsPage";

const num = (value: number | null | undefined, digits = 3) => (value == null ? "—" : value.toFixed(digits));
const plain = (value: unknown) => (value === null || value === undefined ? "—" : typeof value === "object" ? JSON.stringify(value) : String(value));

function Section({ title, children }: { title: string; children: ReactNode }) {
  const id = useId();
  return (
    <section aria-labelledby={id} className="card min-w-0 space-y-3">
      <h2 id={id} className="text-lg font-semibold">
        {title}
      </h2>
      {children}
    </section>
  );
}

/** Errors, which AutoML scores negated so that higher is always better (the dashboard reads them alike). */
const ERROR_METRICS = new Set([
  "root_mean_squared_error", "mean_squared_error", "mean_absolute_error", "median_absolute_error",
  "mean_absolute_percentage_error", "symmetric_mean_absolute_percentage_error", "root_mean_squared_log_error",
  "log_loss", "pinball_loss", "rmse", "mse", "mae", "mape",
]);

/** Whether a smaller score is better: the entry says so when the analysis reports it, else the metric's kind. */
export function lowerIsBetter(metric: string | null | undefined, entry?: LeaderboardEntry): boolean {
  if (entry?.higher_is_better != null) return !entry.higher_is_better;
  return metric != null && ERROR_METRICS.has(metric);
}

/** A leaderboard score in the metric's own units: an error positive (AutoML reports it negated). */
export function naturalScore(metric: string | null | undefined, score: number | null | undefined,
                             entry?: LeaderboardEntry): number | null {
  if (score == null) return null;
  return lowerIsBetter(metric, entry) ? Math.abs(score) : score;
}

function Leaderboard({ card }: { card: ModelCard }) {
  if (card.leaderboard.length === 0) return <p>No leaderboard was recorded.</p>;
  const metric = card.eval_metric ?? card.leaderboard[0].metric ?? null;
  const direction = lowerIsBetter(metric, card.leaderboard[0]) ? "lower is better" : "higher is better";
  // the best model ranks first, the others keep AutoML's order
  const entries = [...card.leaderboard].sort((a, b) => Number(b.is_best) - Number(a.is_best));
  return (
    <>
    <p className="text-sm">
      Scores are {metric ?? "the metric AutoML optimised"}, {direction}. AutoML picks the best model
      by its validation score; the holdout rows were never used to choose it.
    </p>
    <Table caption={`Models AutoML trained, scored on the holdout rows (${metric ?? "score"}, ${direction})`}
      head={["Model", `Holdout ${metric ?? "score"}`, "Validation score", "Fit time (s)", "Best"]}>
      {entries.map((entry) => (
        <tr key={entry.model}
          className={`${ROW} ${entry.is_best ? "bg-emerald-50 font-semibold dark:bg-emerald-950" : ""}`}>
          <th scope="row" className="px-3 py-2 text-left font-medium">{entry.model}</th>
          <td className="px-3 py-2 tabular-nums">{num(entry.score ?? naturalScore(metric, entry.score_holdout, entry))}</td>
          <td className="px-3 py-2 tabular-nums">{num(naturalScore(metric, entry.score_val, entry))}</td>
          <td className="px-3 py-2 tabular-nums">{num(entry.fit_time_s, 2)}</td>
          <td className="px-3 py-2">{entry.is_best ? "★ Best model" : ""}</td>
        </tr>
      ))}
    </Table>
    </>
  );
}

function Features({ card }: { card: ModelCard }) {
  const importance = card.feature_importance ?? card.shap_importance;
  return (
    <div className="space-y-3">
      <p className="text-sm">
        {card.features.length} features. A row to predict needs these columns (others are ignored, missing ones
        read as empty): {card.input_columns.map((c) => c.name).join(", ") || "—"}.
      </p>
      {importance && importance.length > 0 ? (
        <Table
          caption={card.feature_importance ? "Permutation importance: the drop in holdout score when a feature is shuffled" : "Mean absolute SHAP value per feature"}
          head={["Feature", card.feature_importance ? "Permutation importance" : "Mean |SHAP|"]}>
          {importance.map((item) => (
            <tr key={item.feature} className={ROW}>
              <th scope="row" className="px-3 py-2 text-left font-normal">{item.feature}</th>
              <td className="whitespace-nowrap px-3 py-2 tabular-nums">
                {num(item.importance, 4)}
                {item.std ? ` ± ${num(item.std, 4)}` : ""}
              </td>
            </tr>
          ))}
        </Table>
      ) : (
        <ul className="flex flex-wrap gap-2" aria-label="Features">
          {card.features.map((f) => (
            <li key={f} className="rounded bg-slate-100 px-2 py-1 text-xs dark:bg-slate-800">{f}</li>
          ))}
        </ul>
      )}
    </div>
  );
}

function PredictForm({ card }: { card: ModelCard }) {
  const canWrite = useCan("write");
  const [text, setText] = useState(() => (card.example_rows.length > 0 ? toCsv(card.example_rows) : ""));
  const [file, setFile] = useState<File | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [result, setResult] = useState<Predictions | null>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  const helpId = useId();

  async function submit(event: FormEvent) {
    event.preventDefault();
    setError(null);
    let input;
    try {
      input = file ?? parseRows(text);
    } catch (failure) {
      setError((failure as Error).message);
      return;
    }
    setBusy(true);
    try {
      setResult(await predict(card.model_id, input));
    } catch (failure) {
      setResult(null);
      setError(errorMessage(failure, "The prediction failed."));
    } finally {
      setBusy(false);
    }
  }

  const classes = result ? [...new Set(result.rows.flatMap((r) => Object.keys(r.probabilities ?? {})))] : [];
  return (
    <div className="space-y-4">
      <form onSubmit={(e) => void submit(e)} className="space-y-3" aria-label="Predict">
        <div>
          <label htmlFor="predict-rows" className="block text-sm font-medium">
            Rows
          </label>
          <p id={helpId} className="text-xs text-slate-600 dark:text-slate-400">
            Paste CSV (a header line, then one line per row) or a JSON array of objects.
            {card.example_rows.length > 0 ? " Two example rows from the training data's profile are filled in." : ""}
          </p>
          <textarea id="predict-rows" aria-describedby={helpId} className="field min-h-[8rem] font-mono text-xs"
            value={text} spellCheck={false} onChange={(e) => setText(e.target.value)} disabled={file !== null} />
        </div>
        <div>
          <label htmlFor="predict-file" className="block text-sm font-medium">
            Rows file (CSV)
          </label>
          <input id="predict-file" ref={fileInput} type="file" accept=".csv,text/csv" className="field"
            onChange={(e) => setFile(e.target.files?.[0] ?? null)} />
          {file && (
            <p className="mt-1 flex flex-wrap items-center gap-2 text-sm">
              Predicting the rows of {file.name} (not the text above).
              <button type="button" className="btn-quiet" onClick={() => {
                setFile(null);
                if (fileInput.current) fileInput.current.value = "";
              }}>
                Use the text instead
              </button>
            </p>
          )}
        </div>
        <ErrorAlert message={error} />
        {canWrite ? (
          <button type="submit" className="btn" disabled={busy}>
            {busy ? "Predicting…" : "Predict"}
          </button>
        ) : (
          <p className="text-sm">Your role can read models but not predict with them; an analyst or admin can.</p>
        )}
      </form>
      <div aria-live="polite">
        {result && (
          <div className="space-y-4">
            <h3 className="font-semibold">
              {result.rows.length} {result.rows.length === 1 ? "prediction" : "predictions"} of {result.target}
            </h3>
            <Table caption="Predictions, one per row sent" head={["Row", "Prediction", ...classes.map((c) => `P(${c})`)]}>
              {result.rows.map((row, i) => (
                <tr key={i} className={ROW}>
                  <th scope="row" className="px-3 py-2 text-left font-normal">{i + 1}</th>
                  <td className="px-3 py-2 font-medium" data-testid="prediction">{plain(row.prediction)}</td>
                  {classes.map((c) => (
                    <td key={c} className="px-3 py-2 tabular-nums">
                      {row.probabilities?.[c] == null ? "—" : `${(row.probabilities[c] * 100).toFixed(1)}%`}
                    </td>
                  ))}
                </tr>
              ))}
            </Table>
            <h3 className="font-semibold">Why: SHAP contributions per row</h3>
            {result.explained_by && (
              <p className="text-sm">
                Explained by the tree model {result.explained_by}
                {result.shap_output ? `, in ${result.shap_output}${classes.length > 0 ? " of the predicted class" : ""}` : ""}.
              </p>
            )}
            <ol className="grid grid-cols-1 gap-4 lg:grid-cols-2">
              {result.rows.map((row, i) => (
                <li key={i} className="min-w-0 rounded-lg border border-slate-200 p-3 dark:border-slate-800">
                  <h4 className="mb-2 text-sm font-semibold">
                    Row {i + 1}: {plain(row.prediction)}
                  </h4>
                  {row.contributions && row.base_value != null ? (
                    <ShapWaterfall title={`Row ${i + 1}`} base={row.base_value} contributions={row.contributions}
                      output={result.shap_output} prediction={plain(row.prediction)} />
                  ) : (
                    <p className="text-sm">No SHAP values for this row: the model has no tree member to explain it.</p>
                  )}
                </li>
              ))}
            </ol>
          </div>
        )}
      </div>
    </div>
  );
}

export function ModelPage({ id }: { id: string }) {
  const { data: card, error } = useLoad(() => getModel(id), [id], { fallback: "The model could not be loaded." });

  if (error) {
    return (
      <section aria-labelledby="model-title" className="space-y-4">
        <h1 id="model-title" className="text-2xl font-semibold">Model</h1>
        <ErrorAlert message={error} />
        <a href={hashOf({ page: "models" })} className="btn-quiet">Back to the models</a>
      </section>
    );
  }
  if (!card) return <p>Loading the model…</p>;
  const facts: [string, ReactNode][] = [
    ["Task", card.task ?? "—"],
    ["Best model", card.best_model ?? "—"],
    ["Main metric (holdout)", metricText(card.metric)],
    ["Rows", card.train_rows == null ? "—" : `${card.train_rows} training, ${card.holdout_rows ?? 0} holdout`],
    ["Dataset", <a key="d" className="underline" href={hashOf({ page: "dataset", id: card.dataset_id })}>{card.dataset_name ?? card.dataset_id}</a>],
    ["Analysis", <a key="a" className="underline" href={hashOf({ page: "analysis", id: card.analysis_id })}>{card.analysis_id}</a>],
    ["Created", <time key="t" dateTime={card.created_at}>{new Date(card.created_at).toLocaleString()}</time>],
  ];
  return (
    <div className="space-y-6">
      <div className="space-y-1">
        <Breadcrumb href={hashOf({ page: "models" })} label="Models" current={card.dataset_name} />
        <h1 id="model-title" className="text-2xl font-semibold break-words">
          Model predicting {card.target ?? "—"}
        </h1>
        <p className="text-xs text-slate-600 dark:text-slate-400 break-all">Model id {card.model_id}</p>
      </div>
      {!card.available && (
        <p role="status" className="alert">The analysis document of this model is no longer in the store; only its ids are known.</p>
      )}
      <dl className="card grid grid-cols-1 gap-x-6 gap-y-2 text-sm sm:grid-cols-2">
        {facts.map(([term, value]) => (
          <div key={term} className="min-w-0">
            <dt className="text-slate-600 dark:text-slate-400">{term}</dt>
            <dd className="break-words font-medium">{value}</dd>
          </div>
        ))}
      </dl>
      <Section title="Predict">
        <PredictForm card={card} />
      </Section>
      <Section title="Leaderboard">
        <Leaderboard card={card} />
      </Section>
      <Section title="Holdout metrics">
        {Object.keys(card.metrics).length === 0 ? (
          <p>No metrics were recorded.</p>
        ) : (
          <dl className="grid grid-cols-2 gap-2 text-sm sm:grid-cols-3">
            {Object.entries(card.metrics).map(([name, value]) => (
              <div key={name} className="rounded border border-slate-200 p-2 dark:border-slate-800">
                <dt className="text-slate-600 dark:text-slate-400">{name}{name === card.metric?.name ? " (main)" : ""}</dt>
                <dd className="font-semibold tabular-nums">{formatValue(value)}</dd>
              </div>
            ))}
          </dl>
        )}
      </Section>
      <Section title="Features">
        <Features card={card} />
      </Section>
    </div>
  );
}
