// The console's entry: sign-in, then the operator pages under /console/, each
// talking to the operator API through Connect-Web and TanStack Query.
import "./styles.css";
import { TransportProvider } from "@connectrpc/connect-query";
import { MutationCache, QueryCache, QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { StrictMode, useCallback, useEffect, useMemo, useState } from "react";
import { createRoot } from "react-dom/client";
import { Code, ConnectError } from "@connectrpc/connect";
import { isSignedOut, operatorTransport, whoIs, type ApiKey } from "./api.js";
import { Shell } from "./shell.js";
import { canWrite, SessionContext, storedSecret, storeSecret, type Session } from "./session.js";
import { SignIn } from "./sign-in.js";
import { Loading } from "./ui.js";

const revokedMessage = "This API key is unknown or was revoked. Sign in with a valid key.";

/** No retry for answers that will not change by asking again. */
function shouldRetry(failures: number, error: unknown): boolean {
  if (error instanceof ConnectError && [Code.Unauthenticated, Code.PermissionDenied, Code.InvalidArgument, Code.NotFound, Code.FailedPrecondition].includes(error.code)) {
    return false;
  }
  return failures < 3;
}

function SignedIn({ secret, apiKey, signOut }: { secret: string; apiKey: ApiKey; signOut: (reason?: string) => void }) {
  const transport = useMemo(() => operatorTransport(secret), [secret]);
  // One cache per key: a new key never sees what the last one fetched.
  const queryClient = useMemo(() => {
    const onError = (error: unknown) => {
      if (isSignedOut(error)) signOut(revokedMessage);
    };
    return new QueryClient({
      queryCache: new QueryCache({ onError }),
      mutationCache: new MutationCache({ onError }),
      defaultOptions: { queries: { retry: shouldRetry, staleTime: 5_000, refetchOnWindowFocus: true } },
    });
  }, [secret, signOut]);
  const session: Session = useMemo(() => ({ secret, key: apiKey, canWrite: canWrite(apiKey), signOut }), [secret, apiKey, signOut]);
  return (
    <SessionContext.Provider value={session}>
      <TransportProvider transport={transport}>
        <QueryClientProvider client={queryClient}>
          <Shell />
        </QueryClientProvider>
      </TransportProvider>
    </SessionContext.Provider>
  );
}

function App() {
  const [state, setState] = useState<
    | { kind: "checking"; secret: string }
    | { kind: "out"; message?: string }
    | { kind: "in"; secret: string; key: ApiKey }
  >(() => {
    const secret = storedSecret();
    return secret === undefined ? { kind: "out" } : { kind: "checking", secret };
  });

  const signOut = useCallback((message?: string) => {
    storeSecret(undefined);
    setState(message === undefined ? { kind: "out" } : { kind: "out", message });
  }, []);

  // A key kept from earlier in this tab is checked again before anything is shown.
  useEffect(() => {
    if (state.kind !== "checking") return;
    let live = true;
    whoIs(state.secret).then(
      (key) => live && setState({ kind: "in", secret: state.secret, key }),
      (error: unknown) => {
        if (!live) return;
        if (isSignedOut(error)) signOut(revokedMessage);
        else setState({ kind: "out", message: `Could not check the saved key: ${error instanceof Error ? error.message : String(error)}` });
      },
    );
    return () => {
      live = false;
    };
  }, [state, signOut]);

  if (state.kind === "checking") return <Loading what="Checking the saved key" />;
  if (state.kind === "out") {
    return (
      <SignIn
        message={state.message}
        onSignedIn={(secret, key) => {
          storeSecret(secret);
          setState({ kind: "in", secret, key });
        }}
      />
    );
  }
  return <SignedIn secret={state.secret} apiKey={state.key} signOut={signOut} />;
}

const root = document.getElementById("root");
if (root !== null) {
  createRoot(root).render(
    <StrictMode>
      <App />
    </StrictMode>,
  );
}
