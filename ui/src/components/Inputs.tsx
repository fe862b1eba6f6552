import type { ChangeEvent } from "react";
import { SEMANTIC_TYPES } from "../api/data";

/** The options of a role select, each role as its own word. */
export function RoleOptions({ roles }: { roles: readonly string[] }) {
  return (
    <>
      {roles.map((r) => (
        <option key={r} value={r}>
          {r}
        </option>
      ))}
    </>
  );
}

/** A select of the semantic types a column can be read as (its id comes from a Field, or a label names it). */
export function TypeSelect({
  value,
  onChange,
  className = "field",
  id,
  label,
}: {
  value: string;
  onChange: (type: string) => void;
  className?: string;
  id?: string;
  label?: string;
}) {
  return (
    <select id={id} aria-label={label} className={className} value={value} onChange={(e) => onChange(e.target.value)}>
      {SEMANTIC_TYPES.map((t) => (
        <option key={t} value={t}>
          {t}
        </option>
      ))}
    </select>
  );
}

/** What an analysis is: detected from its target and the data (""), or the user's choice, which is final. */
export type Task = "" | "binary" | "multiclass" | "regression" | "forecast" | "unsupervised";

/** The tasks an analysis can be asked for, in the words the select shows. */
export const TASKS: readonly { value: Task; label: string }[] = [
  { value: "", label: "Detect from the target" },
  { value: "binary", label: "Binary classification" },
  { value: "multiclass", label: "Multiclass classification" },
  { value: "regression", label: "Regression" },
  { value: "forecast", label: "Forecast (time series)" },
  { value: "unsupervised", label: "Unsupervised (no target)" },
];

/** The task select of an analysis (its id comes from a Field). */
export function TaskSelect({ value, onChange, id }: { value: Task; onChange: (task: Task) => void; id?: string }) {
  return (
    <select id={id} className="field" value={value} onChange={(e: ChangeEvent<HTMLSelectElement>) => onChange(e.target.value as Task)}>
      {TASKS.map((t) => (
        <option key={t.value} value={t.value}>
          {t.label}
        </option>
      ))}
    </select>
  );
}

/** Column names typed as a comma-separated list, trimmed, empty ones left out. */
export function columnList(text: string): string[] {
  return text
    .split(",")
    .map((name) => name.trim())
    .filter(Boolean);
}

/** The time budget of an analysis in seconds, as a number field with its label. */
export function BudgetField({
  value,
  onChange,
  max,
  placeholder,
}: {
  value: string;
  onChange: (value: string) => void;
  max?: number;
  placeholder?: string;
}) {
  return (
    <label className="block text-sm font-medium">
      Time budget (seconds)
      <input
        type="number"
        inputMode="numeric"
        min={1}
        max={max}
        placeholder={placeholder}
        className="field"
        value={value}
        onChange={(e) => onChange(e.target.value)}
      />
    </label>
  );
}
