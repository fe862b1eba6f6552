import { useEffect, useState } from "react";
import { listDatasets, type DatasetItem } from "../api/client";
import { deleteDataset } from "../api/data";
import { useCan } from "../api/me";
import { useLoad } from "../api/useLoad";
import { ConfirmDialog, useConfirm } from "../components/ConfirmDialog";
import { ErrorAlert } from "../components/ErrorAlert";
import { Status } from "../components/Status";
import { Pager, ROW, Table } from "../components/Table";
import { hashOf } from "../router";

const PAGE = 20;
const SEARCH_DELAY_MS = 300;

function shape(rows: number | null, columns: number | null | undefined): string {
  const r = rows == null ? "—" : rows.toLocaleString();
  const c = columns == null ? "—" : columns.toLocaleString();
  return `${r} × ${c}`;
}

export function DatasetsPage() {
  const canWrite = useCan("write");
  const [offset, setOffset] = useState(0);
  const [search, setSearch] = useState("");
  const [q, setQ] = useState("");
  const [notice, setNotice] = useState<string | null>(null);

  useEffect(() => {
    const timer = setTimeout(() => {
      setQ(search);
      setOffset(0);
    }, SEARCH_DELAY_MS);
    return () => clearTimeout(timer);
  }, [search]);

  const { data: page, error, setData: setPage } = useLoad(() => listDatasets(PAGE, offset, q), [offset, q], {
    fallback: "The datasets could not be loaded.",
    keep: true,
  });

  const deletion = useConfirm(
    async (doomed: DatasetItem) => {
      await deleteDataset(doomed.dataset_id);
      setPage((p) =>
        p && { ...p, items: p.items.filter((d) => d.dataset_id !== doomed.dataset_id), total: Math.max(0, p.total - 1) },
      );
      setNotice(`${doomed.display_name} is being deleted.`);
    },
    { fallback: "The dataset could not be deleted." },
  );

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
      <ErrorAlert message={error} />
      <p role="status" className="text-sm">
        {notice}
      </p>
      {page && page.items.length === 0 && (
        <p>{q.trim() ? `No dataset's name contains “${q.trim()}”.` : "No datasets yet. Upload a CSV file to start."}</p>
      )}
      {page && page.items.length > 0 && (
        <Table caption="Datasets of your organisation, newest first" head={headings}>
          {page.items.map((d) => (
            <tr key={d.dataset_id} className={ROW}>
              <td className="px-3 py-2 font-medium">
                <a className="text-sky-800 underline dark:text-sky-300" href={hashOf({ page: "dataset", id: d.dataset_id })}>
                  {d.display_name}
                </a>
              </td>
              <td className="whitespace-nowrap px-3 py-2 tabular-nums">{shape(d.row_count, d.column_count)}</td>
              <td className="px-3 py-2 tabular-nums">{d.quality_score == null ? "—" : d.quality_score.toFixed(1)}</td>
              <td className="px-3 py-2">
                <span className="inline-flex flex-wrap gap-1">
                  <Status value={d.status} />
                  {d.validation_status === "failed" && <Status value="failed validation" />}
                </span>
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
                    onClick={() => deletion.ask(d)}
                  >
                    Delete
                  </button>
                </td>
              )}
            </tr>
          ))}
        </Table>
      )}
      {page && <Pager offset={offset} size={PAGE} total={page.total} onChange={setOffset} />}
      <ConfirmDialog
        {...deletion.dialog}
        title="Delete dataset?"
        message={
          <p>
            <strong>{deletion.target?.display_name}</strong> will be erased with its analyses, dashboards, models and exports. This
            cannot be undone.
          </p>
        }
        confirmLabel="Delete dataset"
      />
    </section>
  );
}
