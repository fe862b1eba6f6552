import { useState, type FormEvent } from "react";
import { ROLES, createUser, deleteUser, listUsers, updateUser, type Role, type User } from "../api/accounts";
import { errorMessage } from "../api/failure";
import { useCan, useMe } from "../api/me";
import { useAction } from "../api/useAction";
import { useLoad } from "../api/useLoad";
import { ConfirmDialog, useConfirm } from "../components/ConfirmDialog";
import { ErrorAlert } from "../components/ErrorAlert";
import { Field } from "../components/Field";
import { RowForm } from "../components/RowForm";
import { RoleOptions } from "../components/Inputs";
import { ROW, Table } from "../components/Table";

export function UsersPage() {
  const me = useMe();
  const canManage = useCan("manage_users");
  if (!me) return <p>Loading…</p>;
  if (!canManage) {
    return (
      <section aria-labelledby="users-title" className="space-y-4">
        <h1 id="users-title" className="text-2xl font-semibold">Users</h1>
        <ErrorAlert message="You need the admin role to manage users." />
      </section>
    );
  }
  return <ManageUsers myId={me.user_id} />;
}

function ManageUsers({ myId }: { myId: string }) {
  const { data: users, error, setError, reload } = useLoad(listUsers, [], {
    fallback: "The users could not be loaded.",
    message: errorMessage,
    keep: true,
  });
  const [notice, setNotice] = useState<string | null>(null);
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [role, setRole] = useState<Role>("analyst");
  // a role is changed in two steps (choose, then save), so that arrowing through the select changes nothing
  const [pending, setPending] = useState<Record<string, Role>>({});

  const adding = useAction(
    async () => {
      const user = await createUser(email.trim(), password, role);
      setNotice(`Added ${user.email} as ${user.role}.`);
      setEmail("");
      setPassword("");
      await reload();
    },
    { fallback: "The user could not be added.", message: errorMessage },
  );

  function add(event: FormEvent) {
    event.preventDefault();
    void adding.run();
  }

  async function change(user: User, change: { role?: Role; disabled?: boolean }, done: string) {
    setError(null);
    try {
      await updateUser(user.id, change);
      setNotice(done);
      setPending(({ [user.id]: _, ...rest }) => rest);
      await reload();
    } catch (failure) {
      setError(errorMessage(failure, "The user could not be changed."));
      await reload();
    }
  }

  const deleting = useConfirm(
    async (user: User) => {
      await deleteUser(user.id);
      setNotice(`Deleted ${user.email}.`);
    },
    { fallback: "The user could not be deleted.", message: errorMessage, after: reload },
  );

  return (
    <section aria-labelledby="users-title" className="space-y-6">
      <h1 id="users-title" className="text-2xl font-semibold">Users</h1>
      <RowForm title="Add a user" columns="sm:grid-cols-[2fr_2fr_1fr_auto]" onSubmit={(e) => void add(e)}
        error={adding.error}>
        <Field label="Email">
          <input type="email" required autoComplete="off" className="field" value={email}
            onChange={(e) => setEmail(e.target.value)} />
        </Field>
        <Field label="Password">
          <input type="password" required autoComplete="new-password" className="field"
            value={password} onChange={(e) => setPassword(e.target.value)} />
        </Field>
        <Field label="Role">
          <select className="field h-[2.625rem]" value={role} onChange={(e) => setRole(e.target.value as Role)}>
            <RoleOptions roles={ROLES} />
          </select>
        </Field>
        <button type="submit" className="btn" disabled={adding.busy}>{adding.busy ? "Adding…" : "Add user"}</button>
      </RowForm>
      <p role="status" className="text-sm">{notice ?? ""}</p>
      <ErrorAlert message={error} />
      {users && (
        <Table caption="Users of your organisation, oldest first" head={["Email", "Role", "Status", "Created", "Actions"]}>
          {users.map((user) => {
            const self = user.id === myId;
            return (
              <tr key={user.id} className={ROW}>
                <th scope="row" className="px-3 py-2 text-left font-medium">
                  {user.email}
                  {self ? " (you)" : ""}
                </th>
                <td className="whitespace-nowrap px-3 py-2">
                  <label className="sr-only" htmlFor={`role-${user.id}`}>Role of {user.email}</label>
                  <select id={`role-${user.id}`} className="field mt-0 inline-block w-auto py-1"
                    value={pending[user.id] ?? user.role} disabled={self}
                    onChange={(e) => setPending({ ...pending, [user.id]: e.target.value as Role })}>
                    <RoleOptions roles={ROLES} />
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
                        onClick={() => deleting.ask(user)}>
                        Delete
                      </button>
                    </div>
                  )}
                </td>
              </tr>
            );
          })}
        </Table>
      )}
      <ConfirmDialog
        {...deleting.dialog}
        title={`Delete ${deleting.target?.email ?? ""}?`}
        message="They can no longer sign in, and their sessions and API keys end. This cannot be undone."
        confirmLabel="Delete user"
      />
    </section>
  );
}
