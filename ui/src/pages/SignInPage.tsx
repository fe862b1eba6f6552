import { useState, type FormEvent } from "react";
import { signIn } from "../api/client";
import { apiMessage } from "../api/failure";
import { ErrorAlert } from "../components/ErrorAlert";

export function SignInPage() {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await signIn(email, password);
    } catch (failure) {
      setError(apiMessage(failure, "The server could not be reached."));
      setBusy(false);
    }
  }

  return (
    <main className="flex min-h-screen items-center justify-center px-4">
      <form onSubmit={submit} className="card w-full max-w-sm space-y-4" aria-labelledby="sign-in-title">
        <h1 id="sign-in-title" className="text-xl font-semibold">
          Sign in to the Data Science Platform
        </h1>
        <ErrorAlert message={error} />
        <label className="block text-sm font-medium">
          Email
          <input
            className="field"
            type="email"
            name="email"
            autoComplete="username"
            required
            value={email}
            onChange={(e) => setEmail(e.target.value)}
          />
        </label>
        <label className="block text-sm font-medium">
          Password
          <input
            className="field"
            type="password"
            name="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </label>
        <button type="submit" className="btn w-full" disabled={busy}>
          Sign in
        </button>
      </form>
    </main>
  );
}
