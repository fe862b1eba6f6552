import { useEffect, useState } from "react";
import { signOut } from "./api/client";
import { MeProvider, useCan, useMe } from "./api/me";
import { loadTokens, onTokens, type Tokens } from "./api/session";
import { AnalysisPage } from "./pages/AnalysisPage";
import { DatasetPage } from "./pages/DatasetPage";
import { DatasetsPage } from "./pages/DatasetsPage";
import { KeysPage } from "./pages/KeysPage";
import { ModelPage } from "./pages/ModelPage";
import { ModelsPage } from "./pages/ModelsPage";
import { SignInPage } from "./pages/SignInPage";
import { UploadPage } from "./pages/UploadPage";
import { UsersPage } from "./pages/UsersPage";
import { hashOf, useRoute, type Page, type Route } from "./router";

export function App() {
  const [tokens, setTokens] = useState<Tokens | null>(loadTokens);
  useEffect(() => onTokens(setTokens), []);
  if (!tokens) return <SignInPage />;
  return (
    <MeProvider>
      <Shell />
    </MeProvider>
  );
}

/** The page of a route. Each page owns its own loading, errors and role checks. */
function PageOf({ route }: { route: Route }) {
  switch (route.page) {
    case "upload":
      return <UploadPage />;
    case "dataset":
      return route.id ? <DatasetPage key={route.id} id={route.id} /> : <DatasetsPage />;
    case "analysis":
      return route.id ? <AnalysisPage key={route.id} id={route.id} /> : <DatasetsPage />;
    case "models":
      return <ModelsPage />;
    case "model":
      return route.id ? <ModelPage key={route.id} id={route.id} /> : <ModelsPage />;
    case "keys":
      return <KeysPage />;
    case "users":
      return <UsersPage />;
    default:
      return <DatasetsPage />;
  }
}

function Shell() {
  const route = useRoute();
  const me = useMe();
  const canWrite = useCan("write");
  const canManageUsers = useCan("manage_users");
  const current = (page: Page) =>
    route.page === page || (page === "datasets" && (route.page === "dataset" || route.page === "analysis")) ||
    (page === "models" && route.page === "model");
  const link = (to: Route, label: string) => (
    <a
      href={hashOf(to)}
      aria-current={current(to.page) ? "page" : undefined}
      className={`rounded-md px-3 py-2 text-sm font-medium ${
        current(to.page)
          ? "bg-slate-200 dark:bg-slate-800 underline underline-offset-4"
          : "hover:bg-slate-100 dark:hover:bg-slate-800"
      }`}
    >
      {label}
    </a>
  );
  return (
    <div className="min-h-screen">
      <header className="border-b border-slate-200 bg-white dark:border-slate-800 dark:bg-slate-900">
        <div className="mx-auto flex max-w-5xl flex-wrap items-center gap-2 px-4 py-3">
          <span className="mr-4 font-semibold">Data Science Platform</span>
          <nav aria-label="Main" className="flex flex-wrap gap-1">
            {link({ page: "datasets" }, "Datasets")}
            {canWrite && link({ page: "upload" }, "Upload")}
            {link({ page: "models" }, "Models")}
            {link({ page: "keys" }, "API keys")}
            {canManageUsers && link({ page: "users" }, "Users")}
          </nav>
          <span className="ml-auto text-sm text-slate-600 dark:text-slate-400">
            {me ? `${me.email} (${me.role})` : ""}
          </span>
          <button type="button" className="btn-quiet" onClick={() => void signOut()}>
            Sign out
          </button>
        </div>
      </header>
      <main className="mx-auto max-w-5xl px-4 py-6">
        <PageOf route={route} />
      </main>
    </div>
  );
}
