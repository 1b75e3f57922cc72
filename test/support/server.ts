// Servers for end-to-end tests: a real server on 127.0.0.1, port 0, with a real
// SQLite store in a fresh temporary folder, silent logs.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServer, type RunningServer, type StartServerOptions } from "../../server/app.js";
import { configWith, type ServerConfig } from "../../server/core/config.js";
import { createOperatorKey } from "../../server/operator/keys.js";
import type { OperatorKeyScope, Store } from "../../server/store/store.js";

export interface TestServer {
  readonly server: RunningServer;
  readonly config: ServerConfig;
  readonly dataDir: string;
  /** Stops the server (if still running) and removes its folder. */
  dispose(): Promise<void>;
}

export async function makeTempDir(prefix = "fleetbeat-test-"): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function startTestServer(
  overrides: Partial<ServerConfig> = {},
  options: StartServerOptions & { dataDir?: string } = {},
): Promise<TestServer> {
  const dataDir = options.dataDir ?? (await makeTempDir());
  const config = configWith({ port: 0, host: "127.0.0.1", dataDir, logLevel: "silent", ...overrides });
  const { dataDir: _ignored, ...startOptions } = options;
  const server = await startServer(config, startOptions);
  return {
    server,
    config,
    dataDir,
    async dispose() {
      await server.stop();
      if (options.store) await options.store.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** A new operator key's secret, created directly in the store (as `fleetbeat keys create` does). */
export async function operatorSecret(store: Store, scope: OperatorKeyScope, name = `test ${scope}`): Promise<string> {
  const { secret } = await createOperatorKey(store, { name, scope });
  return secret;
}

export function bearer(secret: string): { authorization: string } {
  return { authorization: `Bearer ${secret}` };
}
