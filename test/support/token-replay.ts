// The token take-over of issue 9 replayed over the legacy DI paths: one scenario
// for every dialect's end-to-end test (test/agent.test.ts, test/agent.postgres.test.ts).
import { expect } from "vitest";

export interface ReplayTarget {
  /** POST a legacy DI path; `json` is set on 200. */
  post(path: string, headers: Record<string, string>, body: string | Uint8Array): Promise<{ status: number; json?: { token: string } }>;
  /** The seed's register body. */
  registerBody: string | Uint8Array;
  /** Moves the server's clock. */
  setClock(now: number): void;
  /** The server's token lifetime and previous-token grace (ms). */
  tokenLifetimeMs: number;
  previousGraceMs: number;
}

/**
 * Register (t1), register again presenting t1 (t2), heartbeat with t2; then an
 * attacker replays t1 on /heartbeat, /update and /online: every one is a 401, and
 * the device's t2 keeps working. Then the same after the previous token's expiry.
 */
export async function expectNoTakeOverByReplay(target: ReplayTarget, deviceId: string, start: number): Promise<void> {
  const { post, registerBody } = target;
  const headers = (token?: string) => ({ "X-DI-DEVICEID": deviceId, ...(token ? { "X-DI-TOKEN": token } : {}) });
  target.setClock(start);
  const t1 = (await post("/online", headers(), registerBody)).json!.token;
  const renewed = await post("/online", headers(t1), registerBody);
  expect(renewed.status).toBe(200);
  const t2 = renewed.json!.token;
  expect((await post("/heartbeat", headers(t2), "{}")).json?.token).toBe(t2);

  for (const [path, body] of [["/heartbeat", "{}"], ["/update", registerBody], ["/online", registerBody]] as const) {
    expect((await post(path, headers(t1), body)).status, `${path} with the superseded token`).toBe(401);
  }
  // The real device is not locked out.
  expect((await post("/heartbeat", headers(t2), "{}")).json?.token).toBe(t2);
  expect((await post("/update", headers(t2), registerBody)).json?.token).toBe(t2);

  // A previous token that was never superseded by use still dies at its expiry.
  const t3 = (await post("/online", headers(t2), registerBody)).json!.token;
  target.setClock(start + target.previousGraceMs);
  expect((await post("/heartbeat", headers(t2), "{}")).status, "previous token after its grace").toBe(401);
  expect((await post("/online", headers(t2), registerBody)).status, "register with an expired previous token").toBe(401);
  expect((await post("/heartbeat", headers(t3), "{}")).json?.token).toBe(t3);
  target.setClock(start);
}
