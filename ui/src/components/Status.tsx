// A status as words with a shape beside them: the colour is never the only signal.
const KIND: Record<string, "good" | "bad" | "busy" | "warn" | "off"> = {
  profiled: "good",
  ingested: "good",
  completed: "good",
  passed: "good",
  rejected: "bad",
  failed: "bad",
  uploaded: "busy",
  queued: "busy",
  running: "busy",
  cancelled: "off",
  "failed validation": "bad",
  "passed validation": "good",
  "validation warnings": "warn",
};

const STYLE = {
  good: { icon: "✓", className: "border-emerald-600 text-emerald-800 dark:border-emerald-500 dark:text-emerald-300" },
  bad: { icon: "✕", className: "border-red-600 text-red-800 dark:border-red-500 dark:text-red-300" },
  busy: { icon: "…", className: "border-amber-600 text-amber-900 dark:border-amber-500 dark:text-amber-200" },
  warn: { icon: "▲", className: "border-amber-600 text-amber-900 dark:border-amber-500 dark:text-amber-200" },
  off: { icon: "■", className: "border-slate-500 text-slate-700 dark:border-slate-400 dark:text-slate-300" },
} as const;

export function Status({ value }: { value: string }) {
  const style = STYLE[KIND[value] ?? "busy"];
  return (
    <span className={`inline-flex items-center gap-1 rounded-full border px-2 py-0.5 text-xs font-medium ${style.className}`}>
      <span aria-hidden="true">{style.icon}</span>
      <span>{value}</span>
    </span>
  );
}
