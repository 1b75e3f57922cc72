// Who is signed in: the pasted operator key (kept in sessionStorage only: it goes
// when the tab closes, and never into a URL) and what the server says it may do.
import { createContext, useContext } from "react";
import { KeyScope, type ApiKey } from "./api.js";

const storageKey = "fleetbeat.console.operatorKey";

export interface Session {
  readonly secret: string;
  readonly key: ApiKey;
  /** Admin keys see write controls; read keys see everything else. */
  readonly canWrite: boolean;
  signOut(reason?: string): void;
}

export const SessionContext = createContext<Session | undefined>(undefined);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (session === undefined) throw new Error("useSession outside a signed-in console");
  return session;
}

export function canWrite(key: ApiKey): boolean {
  return key.scope === KeyScope.ADMIN;
}

export function storedSecret(): string | undefined {
  try {
    return window.sessionStorage.getItem(storageKey) ?? undefined;
  } catch {
    return undefined;
  }
}

export function storeSecret(secret: string | undefined): void {
  try {
    if (secret === undefined) window.sessionStorage.removeItem(storageKey);
    else window.sessionStorage.setItem(storageKey, secret);
  } catch {
    // Storage refused (private mode quotas): the key lives only as long as the page.
  }
}
