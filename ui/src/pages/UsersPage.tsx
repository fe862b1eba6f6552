import { useEffect, useState, type FormEvent } from "react";
import { ROLES, createUser, deleteUser, listUsers, updateUser, type Role, type User } from "../api/accounts";
import { ApiError } from "../api/client";
import { useCan, useMe } from "../api/me";
import { ConfirmDialog } from "../components/ConfirmDialog";

const message = (failure: unknown, fallback: string) =>
  failure instanceof ApiError || failure instanceof Error ? failure.message : fallback;

export function UsersPage() {
  const me = useMe();
  const canManage = useCan("manage_users");
  if (!me) return <p>Loading…</p>;
  if (!canManage) {
    return (
      <section aria-labelledby="users-title" className="space-y-4">
        <h1 id="users-title" className="text-2xl font-semibold">Users</h1>
        <p role="alert" className="alert">You need the admin role to manage users.</p>
      </section>
    );
  }
  return <ManageUsers myId={me.user_id} />;
}

function ManageUsers({ myId }: { myId: string }) {
  const [users, setUsers] = useState<User[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [role, setRole] = useState<Role>("analyst");
  const [busy, setBusy] = useState(false);
  const [formError, setFormError] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<User | null>(null);
  const [deleteBusy, setDeleteBusy] = useState(false);
  const [deleteError, setDeleteError] = useState<string | null>(null);
  // a role is changed in two steps (choose, then save), so that arrowing through the select changes nothing
  const [pending, setPending] = useState<Record<string, Role>>({});

  async function reload() {
    try {
      setUsers(await listUsers());
      setError(null);
    } catch (failure) {
      setError(message(failure, "The users could not be loaded."));
    }
  }
  useEffect(() => {
    void reload();
  }, []);

  async function add(event: FormEvent) {
    event.preventDefault();
    setFormError(null);
    setBusy(true);
    try {
      const user = await createUser(email.trim(), password, role);
      setNotice(`Added ${user.email} as ${user.role}.`);
      setEmail("");
      setPassword("");
      await reload();
    } catch (failure) {
      setFormError(message(failure, "The user could not be added."));
    } finally {
      setBusy(false);
    }
  }

  async function change(user: User, change: { role?: Role; disabled?: boolean }, done: string) {
    setError(null);
    try {
      await updateUser(user.id, change);
      setNotice(done);
      setPending(({ [user.id]: _, ...rest }) => rest);
      await reload();
    } catch (failure) {
      setError(message(failure, "The user could not be changed."));
      await reload();
    }
  }

  async function remove() {
    if (!deleting) return;
    setDeleteBusy(true);
    setDeleteError(null);
    try {
      await deleteUser(deleting.id);
      setNotice(`Deleted ${deleting.email}.`);
      setDeleting(null);
      await reload();
    } catch (failure) {
      setDeleteError(message(failure, "The user could not be deleted."));
    } finally {
      setDeleteBusy(false);
    }
  }

  return (
    <section aria-labelledby="users-title" className="space-y-6">
      <h1 id="users-title" className="text-2xl font-semibold">Users</h1>
      <form onSubmit={(e) => void add(e)} className="card grid gap-4 sm:grid-cols-[2fr_2fr_1fr_auto] sm:items-end"
        aria-labelledby="add-user-title">
        <h2 id="add-user-title" className="text-lg font-semibold sm:col-span-4">Add a user</h2>
        <div>
          <label htmlFor="user-email" className="block text-sm font-medium">Email</label>
          <input id="user-email" type="email" required autoComplete="off" className="field" value={email}
            onChange={(e) => setEmail(e.target.value)} />
        </div>
        <div>
          <label htmlFor="user-password" className="block text-sm font-medium">Password</label>
          <input id="user-password" type="password" required autoComplete="new-password" className="field"
            value={password} onChange={(e) => setPassword(e.target.value)} />
        </div>
        <div>
          <label htmlFor="user-role" className="block text-sm font-medium">Role</label>
          <select id="user-role" className="field h-[2.625rem]" value={role} onChange={(e) => setRole(e.target.value as Role)}>
            {ROLES.map((r) => (
              <option key={r} value={r}>{r}</option>
            ))}
          </select>
        </div>
        <button type="submit" className="btn" disabled={busy}>{busy ? "Adding…" : "Add user"}</button>
        {formError && <p role="alert" className="alert sm:col-span-4">{formError}</p>}
      </form>
      <p role="status" className="text-sm">{notice ?? ""}</p>
      {error && <p role="alert" className="alert">{error}</p>}
      {users && (
        <div className="overflow-x-auto rounded-lg border border-slate-200 dark:border-slate-800">
          <table className="min-w-full text-left text-sm">
            <caption className="sr-only">Users of your organisation, oldest first</caption>
            <thead className="bg-slate-100 dark:bg-slate-900">
              <tr>
                {["Email", "Role", "Status", "Created", "Actions"].map((h) => (
                  <th key={h} scope="col" className="whitespace-nowrap px-3 py-2 font-semibold">{h}</th>
                ))}
              </tr>
            </thead>
            <tbody>
              {users.map((user) => {
                const self = user.id === myId;
                return (
                  <tr key={user.id} className="border-t border-slate-200 dark:border-slate-800">
                    <th scope="row" className="px-3 py-2 text-left font-medium">
                      {user.email}
                      {self ? " (you)" : ""}
                    </th>
                    <td className="whitespace-nowrap px-3 py-2">
                      <label className="sr-only" htmlFor={`role-${user.id}`}>Role of {user.email}</label>
                      <select id={`role-${user.id}`} className="field mt-0 inline-block w-auto py-1"
                        value={pending[user.id] ?? user.role} disabled={self}
                        onChange={(e) => setPending({ ...pending, [user.id]: e.target.value as Role })}>
                        {ROLES.map((r) => (
                          <option key={r} value={r}>{r}</option>
                        ))}
                      </select>
                      {pending[user.id] && pending[user.id] !== user.role && (
                        <button type="button" className="btn-quiet ml-2 py-1" aria-label={`Save the role of ${user.email}`}
                          onClick={() => void change(user, { role: pending[user.id] },
                            `${user.email} is now ${pending[user.id]}.`)}>
                          Save
                        </button>
                      )}
                    </td>
                    <td className="px-3 py-2">{user.disabled ? "Disabled" : "Active"}</td>
                    <td className="whitespace-nowrap px-3 py-2">
                      <time dateTime={user.created_at}>{new Date(user.created_at).toLocaleDateString()}</time>
                    </td>
                    <td className="whitespace-nowrap px-3 py-2">
                      {!self && (
                        <div className="flex gap-2">
                          <button type="button" className="btn-quiet"
                            aria-label={`${user.disabled ? "Enable" : "Disable"} ${user.email}`}
                            onClick={() => void change(user, { disabled: !user.disabled },
                              `${user.email} is ${user.disabled ? "enabled" : "disabled"}.`)}>
                            {user.disabled ? "Enable" : "Disable"}
                          </button>
                          <button type="button" className="btn-quiet" aria-label={`Delete ${user.email}`}
                            onClick={() => (setDeleteError(null), setDeleting(user))}>
                            Delete
                          </button>
                        </div>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      <ConfirmDialog
        open={deleting !== null}
        title={`Delete ${deleting?.email ?? ""}?`}
        message="They can no longer sign in, and their sessions and API keys end. This cannot be undone."
        confirmLabel="Delete user"
        busy={deleteBusy}
        error={deleteError}
        onConfirm={() => void remove()}
        onCancel={() => setDeleting(null)}
      />
    </section>
  );
}
