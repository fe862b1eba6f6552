import { useId } from "react";

/** A labelled progress bar: role="progressbar" with aria-valuenow 0-100, and the percentage as text. */
export function Progress({ label, value }: { label: string; value: number }) {
  const percent = Math.round(Math.min(1, Math.max(0, value)) * 100);
  const id = useId();
  return (
    <div>
      <div className="flex justify-between text-sm">
        <span id={id}>{label}</span>
        <span aria-hidden="true">{percent}%</span>
      </div>
      <div
        role="progressbar"
        aria-labelledby={id}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={percent}
        className="mt-1 h-3 overflow-hidden rounded bg-slate-200 dark:bg-slate-800"
      >
        <div className="h-full bg-sky-600 transition-all" style={{ width: `${percent}%` }} />
      </div>
    </div>
  );
}
