import { useState } from "react";
import { apiMessage } from "./failure";

export interface ActionOptions {
  /** What the page says when the failure has no words of its own. */
  fallback: string;
  /** How a failure reads (apiMessage unless given). */
  message?: (failure: unknown, fallback: string) => string;
}

/** An action a person starts (a form's submit): busy while it runs, and its failure in words. */
export function useAction<A extends unknown[]>(act: (...args: A) => Promise<void>, { fallback, message = apiMessage }: ActionOptions) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function run(...args: A) {
    setBusy(true);
    setError(null);
    try {
      await act(...args);
    } catch (failure) {
      setError(message(failure, fallback));
    } finally {
      setBusy(false);
    }
  }

  return { busy, error, setError, run };
}
