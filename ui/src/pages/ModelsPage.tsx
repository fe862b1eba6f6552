import { useEffect, useState } from "react";
import { ApiError } from "../api/client";
import { listModels, type Metric, type ModelPage } from "../api/models";
import { hashOf } from "../router";

const PAGE = 20;

export function metricText(metric: Metric | null | undefined): string {
  if (!metric) return "—";
  return metric.value == null ? metric.name : `${metric.name} ${metric.value.toFixed(3)}`;
}

export function ModelsPage() {
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState<ModelPage | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    listModels(PAGE, offset)
      .then((p) => live && (setPage(p), setError(null)))
      .catch((e: unknown) => live && setError(e instanceof ApiError ? e.message : "The models could not be loaded."));
    return () => {
      live = false;
    };
  }, [offset]);

  const total = page?.total ?? 0;
  return (
    <section aria-labelledby="models-title" className="space-y-4">
      <h1 id="models-title" className="text-2xl font-semibold">
        Models
      </h1>
      {error && (
        <p role="alert" className="alert">
          {error}
        </p>
      )}
      {!page && !error && <p>Loading the models…</p>}
      {page && page.items.length === 0 && (
        <p>No models yet. Analyse a dataset with a target column and its best model appears here.</p>
      )}
      {page && page.items.length > 0 && (
        <div className="overflow-x-auto rounded-lg border border-slate-200 dark:border-slate-800">
          <table className="min-w-full text-left text-sm">
            <caption className="sr-only">Models of your organisation, newest first</caption>
            <thead className="bg-slate-100 dark:bg-slate-900">
              <tr>
                {["Dataset", "Predicts", "Task", "Best model", "Main metric (holdout)", "Created"].map((h) => (
                  <th key={h} scope="col" className="whitespace-nowrap px-3 py-2 font-semibold">
                    {h}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {page.items.map((m) => (
                <tr key={m.model_id} className="border-t border-slate-200 dark:border-slate-800">
                  <td className="px-3 py-2 font-medium">
                    <a className="text-sky-800 underline underline-offset-2 dark:text-sky-300"
                      href={hashOf({ page: "model", id: m.model_id })}>
                      {m.dataset_name ?? `Model ${m.model_id.slice(0, 8)}`}
                    </a>
                  </td>
                  <td className="px-3 py-2">{m.target ?? "—"}</td>
                  <td className="px-3 py-2">{m.task ?? "—"}</td>
                  <td className="px-3 py-2">{m.best_model ?? "—"}</td>
                  <td className="whitespace-nowrap px-3 py-2 tabular-nums">{metricText(m.metric)}</td>
                  <td className="whitespace-nowrap px-3 py-2">
                    <time dateTime={m.created_at}>{new Date(m.created_at).toLocaleString()}</time>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {page && total > PAGE && (
        <nav aria-label="Pages" className="flex items-center gap-3">
          <button type="button" className="btn-quiet" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
            Previous
          </button>
          <span className="text-sm">
            {offset + 1}–{Math.min(offset + PAGE, total)} of {total}
          </span>
          <button type="button" className="btn-quiet" disabled={offset + PAGE >= total} onClick={() => setOffset(offset + PAGE)}>
            Next
          </button>
        </nav>
      )}
    </section>
  );
}
