import type { ReactNode } from "react";

/** The line above each row of a table. */
export const ROW = "border-t border-slate-200 dark:border-slate-800";

/**
 * A table named by its caption, with one header row, in a scroll container that is focusable (and named
 * like the table), so that a keyboard can scroll it when it is wider than the screen.
 */
export function Table({ caption, head, children }: { caption: string; head: string[]; children: ReactNode }) {
  return (
    <div
      tabIndex={0}
      role="region"
      aria-label={caption}
      className="overflow-x-auto rounded-lg border border-slate-200 dark:border-slate-800"
    >
      <table className="min-w-full text-left text-sm">
        <caption className="sr-only">{caption}</caption>
        <thead className="bg-slate-100 dark:bg-slate-900">
          <tr>
            {head.map((h) => (
              <th key={h} scope="col" className="whitespace-nowrap px-3 py-2 font-semibold">
                {h}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}

/** Previous and Next through a list shown `size` items at a time; nothing while it fits on one page. */
export function Pager({
  offset,
  size,
  total,
  onChange,
}: {
  offset: number;
  size: number;
  total: number;
  onChange: (offset: number) => void;
}) {
  if (total <= size) return null;
  return (
    <nav aria-label="Pages" className="flex items-center gap-3">
      <button type="button" className="btn-quiet" disabled={offset === 0} onClick={() => onChange(Math.max(0, offset - size))}>
        Previous
      </button>
      <span className="text-sm">
        {offset + 1}–{Math.min(offset + size, total)} of {total}
      </span>
      <button type="button" className="btn-quiet" disabled={offset + size >= total} onClick={() => onChange(offset + size)}>
        Next
      </button>
    </nav>
  );
}
