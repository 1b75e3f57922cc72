// The agent's config file: where the server is, who the device is, its current
// token, and which commands it has run. Every change is written atomically
// (temp file, fsync, rename, fsync of the folder) before the agent acts on it,
// so a crash at any point leaves either the old file or the new one.
import { randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import path from "node:path";

export interface CommandOutcome {
  /** Command id as decimal text (int64, exact). */
  id: string;
  /** Absent while the command runs: a crash then leaves it without an outcome. */
  returnCode?: number;
  reason?: string;
}

export interface AgentState {
  /** http(s)://host:port of the DI server. */
  server: string;
  /** X-DI-DEVICEID (≤ 64 printable ASCII characters). */
  deviceId: string;
  /** The newest token the server gave us; "" before the first registration. */
  token: string;
  /** X-DI-ENROLL-SECRET for servers with closed enrolment. */
  enrollSecret?: string;
  /** Commands this device has started, newest last (bounded): never run twice. */
  executed: CommandOutcome[];
  /** Ids whose outcome still has to reach the server. */
  unreported: string[];
}

/** How many executed command ids are remembered. */
export const EXECUTED_MEMORY = 10_000;

export function newDeviceId(): string {
  return randomBytes(16).toString("hex");
}

/** Reads the file; undefined when it does not exist. */
export async function readState(file: string): Promise<AgentState | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  const raw = JSON.parse(text) as Partial<AgentState>;
  if (typeof raw.server !== "string" || typeof raw.deviceId !== "string") {
    throw new Error(`${file}: "server" and "deviceId" are required`);
  }
  return {
    server: raw.server,
    deviceId: raw.deviceId,
    token: typeof raw.token === "string" ? raw.token : "",
    ...(typeof raw.enrollSecret === "string" ? { enrollSecret: raw.enrollSecret } : {}),
    executed: Array.isArray(raw.executed) ? raw.executed.filter((e) => typeof e?.id === "string") : [],
    unreported: Array.isArray(raw.unreported) ? raw.unreported.filter((id) => typeof id === "string") : [],
  };
}

/** Writes `data` to `file` so that readers see the old or the new content, never a mix, and it survives power loss. */
export async function writeFileAtomic(file: string, data: string): Promise<void> {
  const dir = path.dirname(file);
  const temp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  const handle = await fs.open(temp, "w", 0o600);
  try {
    await handle.writeFile(data, "utf8");
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.rename(temp, file);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
  const dirHandle = await fs.open(dir, "r");
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
}

export async function writeState(file: string, state: AgentState): Promise<void> {
  if (state.executed.length > EXECUTED_MEMORY) state.executed.splice(0, state.executed.length - EXECUTED_MEMORY);
  await writeFileAtomic(file, JSON.stringify(state, null, 2) + "\n");
}
