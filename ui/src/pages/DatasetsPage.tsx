import { useEffect, useState } from "react";
import { ApiError, listDatasets, type DatasetPage } from "../api/client";

const PAGE = 20;

function shape(rows: number | null, columns: number | null | undefined): string {
  const r = rows == null ? "—" : rows.toLocaleString();
  const c = columns == null ? "—" : columns.toLocaleString();
  return `${r} × ${c}`;
}

export function DatasetsPage() {
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState<DatasetPage | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    listDatasets(PAGE, offset)
      .then((p) => live && (setPage(p), setError(null)))
      .catch((e: unknown) => live && setError(e instanceof ApiError ? e.message : "The datasets could not be loaded."));
    return () => {
      live = false;
    };
  }, [offset]);

  const total = page?.total ?? 0;
  return (
    <section aria-labelledby="datasets-title" className="space-y-4">
      <div className="flex items-center justify-between">
        <h1 id="datasets-title" className="text-2xl font-semibold">
          Datasets
        </h1>
        <a href="#/upload" className="btn">
          Upload a file
        </a>
      </div>
      {error && (
        <p role="alert" className="alert">
          {error}
        </p>
      )}
      {page && page.items.length === 0 && <p>No datasets yet. Upload a CSV file to start.</p>}
      {page && page.items.length > 0 && (
        <div className="overflow-x-auto rounded-lg border border-slate-200 dark:border-slate-800">
          <table className="min-w-full text-left text-sm">
            <caption className="sr-only">Datasets of your organisation, newest first</caption>
            <thead className="bg-slate-100 dark:bg-slate-900">
              <tr>
                {["Name", "Rows × columns", "Quality score", "Status", "Created"].map((h) => (
                  <th key={h} scope="col" className="px-3 py-2 font-semibold">
                    {h}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {page.items.map((d) => (
                <tr key={d.dataset_id} className="border-t border-slate-200 dark:border-slate-800">
                  <td className="px-3 py-2 font-medium">{d.display_name}</td>
                  <td className="px-3 py-2 tabular-nums">{shape(d.row_count, d.column_count)}</td>
                  <td className="px-3 py-2 tabular-nums">{d.quality_score == null ? "—" : d.quality_score.toFixed(1)}</td>
                  <td className="px-3 py-2">{d.status}</td>
                  <td className="px-3 py-2">
                    <time dateTime={d.created_at}>{new Date(d.created_at).toLocaleString()}</time>
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
