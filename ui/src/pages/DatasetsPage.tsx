import { useEffect, useState } from "react";
import { ApiError, listDatasets, type DatasetItem, type DatasetPage } from "../api/client";
import { deleteDataset } from "../api/data";
import { useCan } from "../api/me";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { Status } from "../components/Status";
import { hashOf } from "../router";

const PAGE = 20;
const SEARCH_DELAY_MS = 300;

function shape(rows: number | null, columns: number | null | undefined): string {
  const r = rows == null ? "—" : rows.toLocaleString();
  const c = columns == null ? "—" : columns.toLocaleString();
  return `${r} × ${c}`;
}

function message(failure: unknown, fallback: string): string {
  return failure instanceof ApiError ? failure.message : fallback;
}

export function DatasetsPage() {
  const canWrite = useCan("write");
  const [offset, setOffset] = useState(0);
  const [search, setSearch] = useState("");
  const [q, setQ] = useState("");
  const [page, setPage] = useState<DatasetPage | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [doomed, setDoomed] = useState<DatasetItem | null>(null);
  const [deleting, setDeleting] = useState(false);
  const [deleteError, setDeleteError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  useEffect(() => {
    const timer = setTimeout(() => {
      setQ(search);
      setOffset(0);
    }, SEARCH_DELAY_MS);
    return () => clearTimeout(timer);
  }, [search]);

  useEffect(() => {
    let live = true;
    listDatasets(PAGE, offset, q)
      .then((p) => live && (setPage(p), setError(null)))
      .catch((e: unknown) => live && setError(message(e, "The datasets could not be loaded.")));
    return () => {
      live = false;
    };
  }, [offset, q]);

  async function confirmDelete() {
    if (!doomed) return;
    setDeleting(true);
    setDeleteError(null);
    try {
      await deleteDataset(doomed.dataset_id);
      setPage((p) =>
        p && { ...p, items: p.items.filter((d) => d.dataset_id !== doomed.dataset_id), total: Math.max(0, p.total - 1) },
      );
      setNotice(`${doomed.display_name} is being deleted.`);
      setDoomed(null);
    } catch (failure) {
      setDeleteError(message(failure, "The dataset could not be deleted."));
    } finally {
      setDeleting(false);
    }
  }

  const total = page?.total ?? 0;
  const headings = ["Name", "Rows × columns", "Quality score", "Status", "Created", ...(canWrite ? ["Actions"] : [])];
  return (
    <section aria-labelledby="datasets-title" className="space-y-4">
      <div className="flex flex-wrap items-center justify-between gap-2">
        <h1 id="datasets-title" className="text-2xl font-semibold">
          Datasets
        </h1>
        {canWrite && (
          <a href="#/upload" className="btn">
            Upload a file
          </a>
        )}
      </div>
      <div role="search">
        <label className="block max-w-sm text-sm font-medium">
          Search datasets
          <input
            type="search"
            className="field"
            value={search}
            placeholder="Part of a file name"
            onChange={(e) => setSearch(e.target.value)}
          />
        </label>
      </div>
      {error && (
        <p role="alert" className="alert">
          {error}
        </p>
      )}
      <p role="status" className="text-sm">
        {notice}
      </p>
      {page && page.items.length === 0 && (
        <p>{q.trim() ? `No dataset's name contains “${q.trim()}”.` : "No datasets yet. Upload a CSV file to start."}</p>
      )}
      {page && page.items.length > 0 && (
        <div className="overflow-x-auto rounded-lg border border-slate-200 dark:border-slate-800">
          <table className="min-w-full text-left text-sm">
            <caption className="sr-only">Datasets of your organisation, newest first</caption>
            <thead className="bg-slate-100 dark:bg-slate-900">
              <tr>
                {headings.map((h) => (
                  <th key={h} scope="col" className="whitespace-nowrap px-3 py-2 font-semibold">
                    {h}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {page.items.map((d) => (
                <tr key={d.dataset_id} className="border-t border-slate-200 dark:border-slate-800">
                  <td className="px-3 py-2 font-medium">
                    <a className="text-sky-800 underline dark:text-sky-300" href={hashOf({ page: "dataset", id: d.dataset_id })}>
                      {d.display_name}
                    </a>
                  </td>
                  <td className="whitespace-nowrap px-3 py-2 tabular-nums">{shape(d.row_count, d.column_count)}</td>
                  <td className="px-3 py-2 tabular-nums">{d.quality_score == null ? "—" : d.quality_score.toFixed(1)}</td>
                  <td className="px-3 py-2">
                    <Status value={d.status} />
                  </td>
                  <td className="whitespace-nowrap px-3 py-2">
                    <time dateTime={d.created_at}>{new Date(d.created_at).toLocaleString()}</time>
                  </td>
                  {canWrite && (
                    <td className="px-3 py-2">
                      <button
                        type="button"
                        className="btn-quiet"
                        aria-label={`Delete ${d.display_name}`}
                        onClick={() => {
                          setDeleteError(null);
                          setDoomed(d);
                        }}
                      >
                        Delete
                      </button>
                    </td>
                  )}
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
      <ConfirmDialog
        open={doomed !== null}
        title="Delete dataset?"
        message={
          <p>
            <strong>{doomed?.display_name}</strong> will be erased with its analyses, dashboards, models and exports. This
            cannot be undone.
          </p>
        }
        confirmLabel="Delete dataset"
        busy={deleting}
        error={deleteError}
        onConfirm={() => void confirmDelete()}
        onCancel={() => setDoomed(null)}
      />
    </section>
  );
}
