// A tiny hash router: #/datasets, #/upload. The gateway answers index.html for every UI path anyway.
import { useEffect, useState } from "react";

export type Route = "datasets" | "upload";

function parse(): Route {
  return location.hash.replace(/^#\/?/, "") === "upload" ? "upload" : "datasets";
}

export function useRoute(): Route {
  const [route, setRoute] = useState<Route>(parse);
  useEffect(() => {
    const changed = () => setRoute(parse());
    window.addEventListener("hashchange", changed);
    return () => window.removeEventListener("hashchange", changed);
  }, []);
  return route;
}

export function go(route: Route): void {
  location.hash = `#/${route}`;
}
