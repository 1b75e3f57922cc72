// Who is sending: the machine id (Raspberry Pi serial when there is one, else a
// persisted random id) and the installation id (created once, persisted).
import { createHash, randomUUID } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

export interface IdentityPaths {
  /** JSON file holding the installation id (and the random machine id when there is no serial). */
  stateFile: string;
  /** Default /proc/cpuinfo (its `Serial : …` line on a Raspberry Pi). */
  cpuinfoPath: string;
  /** Default /sys/firmware/devicetree/base/serial-number (NUL-terminated). */
  serialNumberPath: string;
  /** process.platform; the serial is only looked for on "linux". */
  platform: string;
}

export interface Identity {
  /** What goes on the wire as machineId (hashed when asked for). */
  machineId: string;
  machineIdSource: "pi-serial" | "random";
  /** What goes on the wire as hbId. */
  installationId: string;
}

interface StateFile {
  installationId?: string;
  machineId?: string;
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch {
    return undefined;
  }
}

/** A usable serial: hex digits, not all zero (containers and some boards report zeros). */
function usableSerial(text: string | undefined): string | undefined {
  const serial = text?.replace(/\0/g, "").trim();
  if (!serial || !/^[0-9a-fA-F]+$/.test(serial) || /^0+$/.test(serial)) return undefined;
  return serial;
}

/** The Raspberry Pi serial number, from /proc/cpuinfo or the device tree; undefined elsewhere. */
export async function readPiSerial(paths: Pick<IdentityPaths, "cpuinfoPath" | "serialNumberPath" | "platform">): Promise<string | undefined> {
  if (paths.platform !== "linux") return undefined;
  const cpuinfo = await readText(paths.cpuinfoPath);
  const fromCpuinfo = usableSerial(cpuinfo ? /^Serial\s*:\s*(\S+)\s*$/m.exec(cpuinfo)?.[1] : undefined);
  if (fromCpuinfo) return fromCpuinfo;
  return usableSerial(await readText(paths.serialNumberPath));
}

/** sha256 hex of the id: what is sent with `hashMachineId`. */
export function hashId(id: string): string {
  return createHash("sha256").update(id, "utf8").digest("hex");
}

async function readState(path: string): Promise<StateFile> {
  const text = await readText(path);
  if (text === undefined) return {};
  try {
    const parsed = JSON.parse(text) as unknown;
    return parsed !== null && typeof parsed === "object" ? (parsed as StateFile) : {};
  } catch {
    // A damaged file (e.g. a power cut mid-write on an old version): start over.
    return {};
  }
}

/** Writes the file atomically: a reader sees the old or the new content, never half. */
async function writeState(path: string, state: StateFile): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  await rename(temporary, path);
}

/**
 * Loads the identity, creating and persisting what is missing: the installation id
 * once per state file, the random machine id only when the machine has no serial.
 */
export async function loadIdentity(paths: IdentityPaths, options: { hashMachineId: boolean }): Promise<Identity> {
  const state = await readState(paths.stateFile);
  let changed = false;
  if (typeof state.installationId !== "string" || state.installationId === "") {
    state.installationId = randomUUID();
    changed = true;
  }
  const serial = await readPiSerial(paths);
  let raw: string;
  if (serial) raw = serial;
  else {
    if (typeof state.machineId !== "string" || state.machineId === "") {
      state.machineId = randomUUID();
      changed = true;
    }
    raw = state.machineId;
  }
  if (changed) await writeState(paths.stateFile, state);
  return {
    machineId: options.hashMachineId ? hashId(raw) : raw,
    machineIdSource: serial ? "pi-serial" : "random",
    installationId: state.installationId,
  };
}
