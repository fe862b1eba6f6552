import { useEffect, useRef, useState, type DependencyList } from "react";
import { apiMessage } from "./failure";

export interface LoadOptions<T> {
  /** What the page says when the failure has no words of its own. */
  fallback: string;
  /** How a failure reads (apiMessage unless given). */
  message?: (failure: unknown, fallback: string) => string;
  /** Keep showing what was loaded while the next load runs (a list's next page), instead of starting empty. */
  keep?: boolean;
  /** Milliseconds until loading again, or null once what was loaded has settled. */
  again?: (data: T) => number | null;
}

/**
 * Load with `load` whenever `deps` change, and keep its latest answer and the failure in words. An answer that
 * arrives after the deps changed or the page went is dropped. `reload` loads again now.
 */
export function useLoad<T>(load: () => Promise<T>, deps: DependencyList, options: LoadOptions<T>) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const latest = useRef(options);
  latest.current = options;
  const run = useRef<() => Promise<void>>(async () => undefined);

  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    if (!latest.current.keep) {
      setData(null);
      setError(null);
    }
    async function once() {
      clearTimeout(timer);
      const { fallback, message = apiMessage, again } = latest.current;
      try {
        const value = await load();
        if (!live) return;
        setData(value);
        setError(null);
        const wait = again?.(value);
        if (wait != null) timer = setTimeout(() => void once(), wait);
      } catch (failure) {
        if (live) setError(message(failure, fallback));
      }
    }
    run.current = once;
    void once();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, deps);

  return { data, error, setData, setError, reload: () => run.current() };
}
