// A tiny hash router: #/datasets, #/datasets/<id>, #/upload, #/analysis/<id>, #/models/<id>, #/keys, #/users.
// The gateway answers index.html for every UI path anyway.
import { useEffect, useState } from "react";

export type Page = "datasets" | "dataset" | "upload" | "analysis" | "models" | "model" | "keys" | "users";

export interface Route {
  page: Page;
  /** The id in the path (#/datasets/<id>, #/analysis/<id>, #/models/<id>), if any. */
  id?: string;
}

const PAGES: ReadonlySet<string> = new Set(["datasets", "upload", "analysis", "models", "keys", "users"]);

/** The route of a hash: "#/datasets/abc" is {page: "dataset", id: "abc"}; anything unknown is the datasets list. */
export function parseHash(hash: string): Route {
  const [head = "", id] = hash.replace(/^#\/?/, "").split("/").map((part) => decodeURIComponent(part));
  if (!PAGES.has(head)) return { page: "datasets" };
  if (head === "datasets") return id ? { page: "dataset", id } : { page: "datasets" };
  if (head === "models") return id ? { page: "model", id } : { page: "models" };
  if (head === "analysis") return id ? { page: "analysis", id } : { page: "datasets" };
  return { page: head as Page };
}

/** The hash of a route, the inverse of parseHash. */
export function hashOf(route: Route): string {
  const base = route.page === "dataset" ? "datasets" : route.page === "model" ? "models" : route.page;
  return route.id ? `#/${base}/${encodeURIComponent(route.id)}` : `#/${base}`;
}

export function useRoute(): Route {
  const [route, setRoute] = useState<Route>(() => parseHash(location.hash));
  useEffect(() => {
    const changed = () => setRoute(parseHash(location.hash));
    window.addEventListener("hashchange", changed);
    return () => window.removeEventListener("hashchange", changed);
  }, []);
  return route;
}

export function go(route: Route): void {
  location.hash = hashOf(route);
}
