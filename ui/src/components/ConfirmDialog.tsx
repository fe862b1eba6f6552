// A modal confirmation: role="dialog" with aria-modal, focus moves in (to Cancel, the safe choice), Tab
// stays inside, Escape or Cancel closes, and focus returns to what had it before.
import { useEffect, useId, useRef, useState, type ReactNode } from "react";
import { useAction, type ActionOptions } from "../api/useAction";
import { ErrorAlert } from "./ErrorAlert";

export interface ConfirmDialogProps {
  open: boolean;
  title: string;
  /** What will happen, in plain words. */
  message: ReactNode;
  confirmLabel: string;
  cancelLabel?: string;
  /** Disables both buttons while the action runs. */
  busy?: boolean;
  /** A destructive action gets a red confirm button (its label says what it does too). */
  danger?: boolean;
  /** An error of the action, shown inside the dialog. */
  error?: string | null;
  onConfirm: () => void;
  onCancel: () => void;
}

export interface ConfirmOptions<T> extends ActionOptions {
  /** Runs once the action succeeded and the dialog closed (such as loading the list again), before it is idle. */
  after?: (target: T) => Promise<void> | void;
}

/**
 * The state of a dialog that confirms an action on one thing: `ask(thing)` opens it; confirming runs
 * `act(thing)`, busy meanwhile, and closes the dialog when it succeeds or shows its failure inside it.
 * Spread `dialog` into a ConfirmDialog.
 */
export function useConfirm<T>(act: (target: T) => Promise<void>, { after, ...options }: ConfirmOptions<T>) {
  const [target, setTarget] = useState<T | null>(null);
  const { busy, error, setError, run } = useAction(async (thing: T) => {
    await act(thing);
    setTarget(null);
    await after?.(thing);
  }, options);

  return {
    target,
    ask: (thing: T) => {
      setError(null);
      setTarget(thing);
    },
    dialog: {
      open: target !== null,
      busy,
      error,
      onConfirm: () => void (target !== null && run(target)),
      onCancel: () => setTarget(null),
    },
  };
}

const FOCUSABLE = 'button:not([disabled]), [href], input:not([disabled]), select, textarea, [tabindex]:not([tabindex="-1"])';

export function ConfirmDialog({
  open,
  title,
  message,
  confirmLabel,
  cancelLabel = "Cancel",
  busy = false,
  danger = true,
  error = null,
  onConfirm,
  onCancel,
}: ConfirmDialogProps) {
  const titleId = useId();
  const messageId = useId();
  const panel = useRef<HTMLDivElement>(null);
  const cancel = useRef<HTMLButtonElement>(null);
  const cancelRef = useRef(onCancel);
  cancelRef.current = onCancel;
  const busyRef = useRef(busy);
  busyRef.current = busy;

  useEffect(() => {
    if (!open) return;
    const before = document.activeElement as HTMLElement | null;
    cancel.current?.focus();
    const onKey = (event: KeyboardEvent) => {
      if (event.key === "Escape") {
        event.preventDefault();
        if (!busyRef.current) cancelRef.current();
        return;
      }
      if (event.key !== "Tab" || !panel.current) return;
      const items = Array.from(panel.current.querySelectorAll<HTMLElement>(FOCUSABLE));
      if (items.length === 0) return;
      const first = items[0];
      const last = items[items.length - 1];
      const inside = panel.current.contains(document.activeElement);
      if (event.shiftKey && (document.activeElement === first || !inside)) {
        event.preventDefault();
        last.focus();
      } else if (!event.shiftKey && (document.activeElement === last || !inside)) {
        event.preventDefault();
        first.focus();
      }
    };
    document.addEventListener("keydown", onKey);
    return () => {
      document.removeEventListener("keydown", onKey);
      if (before && document.contains(before)) before.focus();
    };
  }, [open]);

  if (!open) return null;
  return (
    <div className="fixed inset-0 z-50 flex items-center justify-center bg-slate-900/60 p-4">
      <div
        ref={panel}
        role="dialog"
        aria-modal="true"
        aria-labelledby={titleId}
        aria-describedby={messageId}
        className="card w-full max-w-md space-y-4"
      >
        <h2 id={titleId} className="text-lg font-semibold">
          {title}
        </h2>
        <div id={messageId} className="text-sm">
          {message}
        </div>
        <ErrorAlert message={error} />
        <div className="flex flex-wrap justify-end gap-2">
          <button ref={cancel} type="button" className="btn-quiet" disabled={busy} onClick={onCancel}>
            {cancelLabel}
          </button>
          <button
            type="button"
            className={danger ? "btn bg-red-700 hover:bg-red-800" : "btn"}
            disabled={busy}
            onClick={onConfirm}
          >
            {busy ? "Working…" : confirmLabel}
          </button>
        </div>
      </div>
    </div>
  );
}
