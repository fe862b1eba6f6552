import { ApiError } from "./client";

/** What a failure of the API says in plain words; anything else (the network) reads as the fallback. */
export function apiMessage(failure: unknown, fallback: string): string {
  return failure instanceof ApiError ? failure.message : fallback;
}

/** Like apiMessage, and the message of any other Error too (a refused request, an input that does not parse). */
export function errorMessage(failure: unknown, fallback: string): string {
  return failure instanceof ApiError || failure instanceof Error ? failure.message : fallback;
}
