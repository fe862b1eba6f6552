// The signed-in session: tokens in memory, mirrored to sessionStorage so a reload keeps the user signed in
// (and closing the tab signs out).
export interface Tokens {
  access_token: string;
  refresh_token: string;
}

const KEY = "dsp.session";
let current: Tokens | null = null;
const listeners = new Set<(tokens: Tokens | null) => void>();

export function loadTokens(): Tokens | null {
  if (current) return current;
  try {
    const raw = sessionStorage.getItem(KEY);
    current = raw ? (JSON.parse(raw) as Tokens) : null;
  } catch {
    current = null;
  }
  return current;
}

export function saveTokens(tokens: Tokens | null): void {
  current = tokens;
  if (tokens) sessionStorage.setItem(KEY, JSON.stringify(tokens));
  else sessionStorage.removeItem(KEY);
  listeners.forEach((listener) => listener(tokens));
}

export function onTokens(listener: (tokens: Tokens | null) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
