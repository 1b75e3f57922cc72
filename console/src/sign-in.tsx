// Sign-in: paste an operator API key; it is checked with the server before use.
import { useEffect, useRef, useState } from "react";
import { describeError, isSignedOut, whoIs, type ApiKey } from "./api.js";

export function SignIn({ message, onSignedIn }: { message: string | undefined; onSignedIn: (secret: string, key: ApiKey) => void }) {
  const [secret, setSecret] = useState("");
  const [error, setError] = useState<string | undefined>(message);
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => {
    document.title = "Sign in · fleetbeat";
    input.current?.focus();
  }, []);

  return (
    <main className="sign-in">
      <form
        onSubmit={(event) => {
          event.preventDefault();
          const value = secret.trim();
          if (value === "") {
            setError("Paste an operator API key first.");
            return;
          }
          setBusy(true);
          setError(undefined);
          whoIs(value).then(
            (key) => onSignedIn(value, key),
            (failure: unknown) => {
              setBusy(false);
              setError(isSignedOut(failure) ? "This API key is unknown or was revoked." : describeError(failure));
            },
          );
        }}
      >
        <h1>fleetbeat console</h1>
        <p>
          Sign in with an operator API key. Create one on the server with{" "}
          <code>fleetbeat keys create --name you --scope admin</code> (or <code>--scope read</code> for a key that can look but not change).
        </p>
        <label htmlFor="api-key">API key</label>
        <input
          id="api-key"
          ref={input}
          type="password"
          autoComplete="off"
          spellCheck={false}
          value={secret}
          onChange={(e) => setSecret(e.target.value)}
          aria-describedby={error !== undefined ? "sign-in-error" : undefined}
        />
        {error !== undefined ? (
          <p id="sign-in-error" className="error" role="alert">
            {error}
          </p>
        ) : null}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Checking…" : "Sign in"}
        </button>
        <p className="muted small">The key stays in this browser tab only (session storage) and is sent to this server alone.</p>
      </form>
    </main>
  );
}
