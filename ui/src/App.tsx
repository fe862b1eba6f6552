import { useEffect, useState } from "react";
import { signOut } from "./api/client";
import { loadTokens, onTokens, type Tokens } from "./api/session";
import { DatasetsPage } from "./pages/DatasetsPage";
import { SignInPage } from "./pages/SignInPage";
import { UploadPage } from "./pages/UploadPage";
import { useRoute } from "./router";

export function App() {
  const [tokens, setTokens] = useState<Tokens | null>(loadTokens);
  const route = useRoute();
  useEffect(() => onTokens(setTokens), []);

  if (!tokens) return <SignInPage />;
  const link = (to: typeof route, label: string) => (
    <a
      href={`#/${to}`}
      aria-current={route === to ? "page" : undefined}
      className={`rounded-md px-3 py-2 text-sm font-medium ${
        route === to ? "bg-slate-200 dark:bg-slate-800 underline underline-offset-4" : "hover:bg-slate-100 dark:hover:bg-slate-800"
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
          <nav aria-label="Main" className="flex gap-1">
            {link("datasets", "Datasets")}
            {link("upload", "Upload")}
          </nav>
          <button type="button" className="btn-quiet ml-auto" onClick={() => void signOut()}>
            Sign out
          </button>
        </div>
      </header>
      <main className="mx-auto max-w-5xl px-4 py-6">{route === "upload" ? <UploadPage /> : <DatasetsPage />}</main>
    </div>
  );
}
