import { useEffect, useId, useRef, useState, type FormEvent } from "react";
import { createKey, listKeys, revokeKey, rolesUpTo, type ApiKey, type NewApiKey, type Role } from "../api/accounts";
import { errorMessage } from "../api/failure";
import { useMe } from "../api/me";
import { useAction } from "../api/useAction";
import { useLoad } from "../api/useLoad";
import { ConfirmDialog, useConfirm } from "../components/ConfirmDialog";
import { ErrorAlert } from "../components/ErrorAlert";
import { Field } from "../components/Field";
import { RowForm } from "../components/RowForm";
import { RoleOptions } from "../components/Inputs";
import { ROW, Table } from "../components/Table";

const when = (iso: string | null) => (iso ? <time dateTime={iso}>{new Date(iso).toLocaleString()}</time> : "—");

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
  const { data: keys, error, reload } = useLoad(listKeys, [], {
    fallback: "The API keys could not be loaded.",
    message: errorMessage,
    keep: true,
  });
  const [name, setName] = useState("");
  const [role, setRole] = useState<Role | "">("");
  const [expires, setExpires] = useState("");
  const [created, setCreated] = useState<NewApiKey | null>(null);

  const roles = me ? rolesUpTo(me.role) : [];
  const today = new Date();
  const tomorrow = new Date(today.getFullYear(), today.getMonth(), today.getDate() + 1);
  const minDay = `${tomorrow.getFullYear()}-${String(tomorrow.getMonth() + 1).padStart(2, "0")}-${String(tomorrow.getDate()).padStart(2, "0")}`;

  const creation = useAction(
    async () => {
      const key = await createKey(name.trim(), (role || me?.role || "viewer") as Role, expiryOf(expires));
      setCreated(key);
      setName("");
      setExpires("");
      await reload();
    },
    { fallback: "The key could not be created.", message: errorMessage },
  );

  async function create(event: FormEvent) {
    event.preventDefault();
    creation.setError(null);
    if (!name.trim()) {
      creation.setError("Give the key a name, such as the program that will use it.");
      return;
    }
    await creation.run();
  }

  const revoking = useConfirm(
    async (key: ApiKey) => {
      await revokeKey(key.id);
    },
    { fallback: "The key could not be revoked.", message: errorMessage, after: reload },
  );

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
      <RowForm title="Create a key" columns="sm:grid-cols-[2fr_1fr_1fr_auto]" onSubmit={(e) => void create(e)}
        error={creation.error}>
        <Field label="Name">
          <input className="field" value={name} maxLength={200} onChange={(e) => setName(e.target.value)} />
        </Field>
        <Field label="Role">
          <select className="field h-[2.625rem]" value={role || me?.role || ""} onChange={(e) => setRole(e.target.value as Role)}>
            <RoleOptions roles={roles} />
          </select>
        </Field>
        <Field label="Expires (optional)">
          <input type="date" className="field" min={minDay} value={expires} onChange={(e) => setExpires(e.target.value)} />
        </Field>
        <button type="submit" className="btn" disabled={creation.busy || !me}>
          {creation.busy ? "Creating…" : "Create key"}
        </button>
      </RowForm>
      <ErrorAlert message={error} />
      {keys && keys.length === 0 && <p>You have no API keys yet.</p>}
      {keys && keys.length > 0 && (
        <Table caption="Your API keys, newest first"
          head={["Name", "Role", "Created", "Last used", "Expires", "Status", "Actions"]}>
          {keys.map((key) => (
            <tr key={key.id} className={ROW}>
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
                    onClick={() => revoking.ask(key)}>
                    Revoke
                  </button>
                )}
              </td>
            </tr>
          ))}
        </Table>
      )}
      <ConfirmDialog
        {...revoking.dialog}
        title={`Revoke the key “${revoking.target?.name ?? ""}”?`}
        message="Programs using this key are refused from their next request on. This cannot be undone."
        confirmLabel="Revoke key"
      />
    </section>
  );
}
