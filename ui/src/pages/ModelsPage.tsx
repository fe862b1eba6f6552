import { useState } from "react";
import { listModels, type Metric } from "../api/models";
import { useLoad } from "../api/useLoad";
import { ErrorAlert } from "../components/ErrorAlert";
import { Pager, ROW, Table } from "../components/Table";
import { hashOf } from "../router";

const PAGE = 20;

export function metricText(metric: Metric | null | undefined): string {
  if (!metric) return "—";
  return metric.value == null ? metric.name : `${metric.name} ${metric.value.toFixed(3)}`;
}

export function ModelsPage() {
  const [offset, setOffset] = useState(0);
  const { data: page, error } = useLoad(() => listModels(PAGE, offset), [offset], {
    fallback: "The models could not be loaded.",
    keep: true,
  });

  return (
    <section aria-labelledby="models-title" className="space-y-4">
      <h1 id="models-title" className="text-2xl font-semibold">
        Models
      </h1>
      <ErrorAlert message={error} />
      {!page && !error && <p>Loading the models…</p>}
      {page && page.items.length === 0 && (
        <p>No models yet. Analyse a dataset with a target column and its best model appears here.</p>
      )}
      {page && page.items.length > 0 && (
        <Table caption="Models of your organisation, newest first"
          head={["Dataset", "Predicts", "Task", "Best model", "Main metric (holdout)", "Created"]}>
          {page.items.map((m) => (
            <tr key={m.model_id} className={ROW}>
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
        </Table>
      )}
      {page && <Pager offset={offset} size={PAGE} total={page.total} onChange={setOffset} />}
    </section>
  );
}
