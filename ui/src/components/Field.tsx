import { useId, type ReactElement } from "react";
import { cloneElement } from "react";

/** A control with its label tied by id (not wrapped: a wrapped select's label would read its options too). */
export function Field({ label, children, className = "" }: { label: string; children: ReactElement; className?: string }) {
  const id = useId();
  return (
    <div className={className}>
      <label htmlFor={id} className="block text-sm font-medium">
        {label}
      </label>
      {cloneElement(children, { id })}
    </div>
  );
}
