import { useId, type FormEvent, type ReactNode } from "react";
import { ErrorAlert } from "./ErrorAlert";

/**
 * A card form named by its title: on a wide screen its fields and its button stand in one row (`columns`, a
 * `sm:grid-cols-[…]` of four), on a narrow one they stack; its error is shown below them.
 */
export function RowForm({
  title,
  columns,
  onSubmit,
  error,
  children,
}: {
  title: string;
  columns: string;
  onSubmit: (event: FormEvent) => void;
  error: string | null;
  children: ReactNode;
}) {
  const titleId = useId();
  return (
    <form onSubmit={onSubmit} className={`card grid gap-4 ${columns} sm:items-end`} aria-labelledby={titleId}>
      <h2 id={titleId} className="text-lg font-semibold sm:col-span-4">
        {title}
      </h2>
      {children}
      <ErrorAlert message={error} className="sm:col-span-4" />
    </form>
  );
}
