import { useEffect, useId, useRef, useState, type FormEvent } from "react";
import { createKey, listKeys, revokeKey, rolesUpTo, type ApiKey, type NewApiKey, type Role } from "../api/accounts";
import { ApiError } from "../api/client";
import { useMe } from "../api/me";
import { ConfirmDialog } from "../components/ConfirmDialog";

const when = (iso: string | null) => (iso ? <time dateTime={iso}>{new Date(iso).toLocaleString()}</time> : "—");
const message = (failure: unknown, fallback: string) =>
  failure instanceof ApiError || failure instanceof Error ? failure.message : fallback;

const STATUS: Record<ApiKey["status"], string> = { active: "Active", revoked: "Revoked", expired: "Expired" };

/** The end of a chosen day (local time) as an ISO moment; null for none. */
export function expiryOf(day: string): string | null {
  if (!day) return null;
  const [y, m, d] = day.split("-").map(Number);
  return new Date(y, m - 1, d, 23, 59, 59).toISOString();
}

function NewKey({ created, onDone }: { created: NewApiKey; onDone: () => void }) {
  const field = useRef<HTMLInputElement>(null);
  const [copied, setCopied] = useState<string | null>(null);
  const warningId = useId();
  useEffect(() => field.current?.focus(), []);

  async function copy() {
    try {
      await navigator.clipboard.writeText(created.key);
      setCopied("Copied to the clipboard.");
    } catch {
      field.current?.select();
      setCopied("Select the key and copy it with Ctrl+C (or ⌘C).");
    }
  }

  return (
    <section aria-labelledby="new-key-title" className="rounded-lg border-2 border-amber-500 bg-amber-50 p-4 dark:bg-amber-950">
      <h2 id="new-key-title" className="font-semibold">
        Your new key “{created.name}”
      </h2>
      <p id={warningId} className="mt-1 text-sm font-medium">
        ⚠ Copy it now: this is the only time it is shown. It is stored only as a hash, so it cannot be shown again.
        Anyone holding it acts as you with the {created.role} role.
      </p>
      <label htmlFor="new-key" className="mt-3 block text-sm font-medium">
        New API key
      </label>
      <div className="mt-1 flex flex-wrap gap-2">
        <input id="new-key" ref={field} readOnly value={created.key} aria-describedby={warningId}
          className="field mt-0 min-w-0 flex-1 font-mono text-xs" onFocus={(e) => e.target.select()} />
        <button type="button" className="btn" onClick={() => void copy()}>
          Copy
        </button>
        <button type="button" className="btn-quiet" onClick={onDone}>
          I have copied it
        </button>
      </div>
      <p role="status" className="mt-1 text-sm">
        {copied ?? ""}
      </p>
    </section>
  );
}

export function KeysPage() {
  const me = useMe();
  const [keys, setKeys] = useState<ApiKey[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [name, setName] = useState("");
  const [role, setRole] = useState<Role | "">("");
  const [expires, setExpires] = useState("");
  const [busy, setBusy] = useState(false);
  const [formError, setFormError] = useState<string | null>(null);
  const [created, setCreated] = useState<NewApiKey | null>(null);
  const [revoking, setRevoking] = useState<ApiKey | null>(null);
  const [revokeBusy, setRevokeBusy] = useState(false);
  const [revokeError, setRevokeError] = useState<string | null>(null);

  async function reload() {
    try {
      setKeys(await listKeys());
      setError(null);
    } catch (failure) {
      setError(message(failure, "The API keys could not be loaded."));
    }
  }
  useEffect(() => {
    void reload();
  }, []);

  const roles = me ? rolesUpTo(me.role) : [];
  const today = new Date();
  const tomorrow = new Date(today.getFullYear(), today.getMonth(), today.getDate() + 1);
  const minDay = `${tomorrow.getFullYear()}-${String(tomorrow.getMonth() + 1).padStart(2, "0")}-${String(tomorrow.getDate()).padStart(2, "0")}`;

  async function create(event: FormEvent) {
    event.preventDefault();
    setFormError(null);
    if (!name.trim()) {
      setFormError("Give the key a name, such as the program that will use it.");
      return;
    }
    setBusy(true);
    try {
      const key = await createKey(name.trim(), (role || me?.role || "viewer") as Role, expiryOf(expires));
      setCreated(key);
      setName("");
      setExpires("");
      await reload();
    } catch (failure) {
      setFormError(message(failure, "The key could not be created."));
    } finally {
      setBusy(false);
    }
  }

  async function revoke() {
    if (!revoking) return;
    setRevokeBusy(true);
    setRevokeError(null);
    try {
      await revokeKey(revoking.id);
      setRevoking(null);
      await reload();
    } catch (failure) {
      setRevokeError(message(failure, "The key could not be revoked."));
    } finally {
      setRevokeBusy(false);
    }
  }

  return (
    <section aria-labelledby="keys-title" className="space-y-6">
      <h1 id="keys-title" className="text-2xl font-semibold">
        API keys
      </h1>
      <p className="text-sm">
        A program sends a key as the <code>X-API-Key</code> header (or <code>Authorization: Bearer</code>) and acts as
        you, with the key's role.
      </p>
      {created && <NewKey created={created} onDone={() => setCreated(null)} />}
      <form onSubmit={(e) => void create(e)} className="card grid gap-4 sm:grid-cols-[2fr_1fr_1fr_auto] sm:items-end"
        aria-labelledby="create-key-title">
        <h2 id="create-key-title" className="text-lg font-semibold sm:col-span-4">
          Create a key
        </h2>
        <div>
          <label htmlFor="key-name" className="block text-sm font-medium">Name</label>
          <input id="key-name" className="field" value={name} maxLength={200} onChange={(e) => setName(e.target.value)} />
        </div>
        <div>
          <label htmlFor="key-role" className="block text-sm font-medium">Role</label>
          <select id="key-role" className="field h-[2.625rem]" value={role || me?.role || ""} onChange={(e) => setRole(e.target.value as Role)}>
            {roles.map((r) => (
              <option key={r} value={r}>{r}</option>
            ))}
          </select>
        </div>
        <div>
          <label htmlFor="key-expires" className="block text-sm font-medium">Expires (optional)</label>
          <input id="key-expires" type="date" className="field" min={minDay} value={expires}
            onChange={(e) => setExpires(e.target.value)} />
        </div>
        <button type="submit" className="btn" disabled={busy || !me}>
          {busy ? "Creating…" : "Create key"}
        </button>
        {formError && (
          <p role="alert" className="alert sm:col-span-4">{formError}</p>
        )}
      </form>
      {error && (
        <p role="alert" className="alert">{error}</p>
      )}
      {keys && keys.length === 0 && <p>You have no API keys yet.</p>}
      {keys && keys.length > 0 && (
        <div className="overflow-x-auto rounded-lg border border-slate-200 dark:border-slate-800">
          <table className="min-w-full text-left text-sm">
            <caption className="sr-only">Your API keys, newest first</caption>
            <thead className="bg-slate-100 dark:bg-slate-900">
              <tr>
                {["Name", "Role", "Created", "Last used", "Expires", "Status", "Actions"].map((h) => (
                  <th key={h} scope="col" className="whitespace-nowrap px-3 py-2 font-semibold">{h}</th>
                ))}
              </tr>
            </thead>
            <tbody>
              {keys.map((key) => (
                <tr key={key.id} className="border-t border-slate-200 dark:border-slate-800">
                  <th scope="row" className="px-3 py-2 text-left font-medium">{key.name}</th>
                  <td className="px-3 py-2">{key.role}</td>
                  <td className="whitespace-nowrap px-3 py-2">{when(key.created_at)}</td>
                  <td className="whitespace-nowrap px-3 py-2">{key.last_used_at ? when(key.last_used_at) : "Never"}</td>
                  <td className="whitespace-nowrap px-3 py-2">{key.expires_at ? when(key.expires_at) : "Never"}</td>
                  <td className="px-3 py-2">
                    <span className={key.status === "active" ? "font-medium text-emerald-800 dark:text-emerald-300" : "text-slate-600 dark:text-slate-400"}>
                      {STATUS[key.status] ?? key.status}
                    </span>
                  </td>
                  <td className="px-3 py-2">
                    {key.status === "active" && (
                      <button type="button" className="btn-quiet" aria-label={`Revoke ${key.name}`}
                        onClick={() => (setRevokeError(null), setRevoking(key))}>
                        Revoke
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <ConfirmDialog
        open={revoking !== null}
        title={`Revoke the key “${revoking?.name ?? ""}”?`}
        message="Programs using this key are refused from their next request on. This cannot be undone."
        confirmLabel="Revoke key"
        busy={revokeBusy}
        error={revokeError}
        onConfirm={() => void revoke()}
        onCancel={() => setRevoking(null)}
      />
    </section>
  );
}
