import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { hashId, loadIdentity, readPiSerial, type IdentityPaths } from "./identity.js";

// A Raspberry Pi 4's /proc/cpuinfo tail, as the kernel writes it.
const piCpuinfo = `processor\t: 3
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm crc32 cpuid
CPU implementer\t: 0x41

Hardware\t: BCM2835
Revision\t: c03112
Serial\t\t: 10000000a1b2c3d4
Model\t\t: Raspberry Pi 4 Model B Rev 1.2
`;

let dir: string;
let paths: IdentityPaths;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "fleetbeat-hb-identity-"));
  paths = {
    stateFile: join(dir, "state", "heartbeat.json"),
    cpuinfoPath: join(dir, "cpuinfo"),
    serialNumberPath: join(dir, "serial-number"),
    platform: "linux",
  };
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("machine id", () => {
  it("is the Pi serial from /proc/cpuinfo on Linux", async () => {
    await writeFile(paths.cpuinfoPath, piCpuinfo);
    expect(await readPiSerial(paths)).toBe("10000000a1b2c3d4");
    const identity = await loadIdentity(paths, { hashMachineId: false });
    expect(identity).toMatchObject({ machineId: "10000000a1b2c3d4", machineIdSource: "pi-serial" });
    // No random machine id is stored when the serial is used.
    expect(JSON.parse(await readFile(paths.stateFile, "utf8"))).not.toHaveProperty("machineId");
  });

  it("falls back to the device tree's NUL-terminated serial-number", async () => {
    await writeFile(paths.cpuinfoPath, "processor\t: 0\nSerial\t\t: 0000000000000000\n");
    await writeFile(paths.serialNumberPath, "00000000c0ffee42\0");
    expect(await readPiSerial(paths)).toBe("00000000c0ffee42");
  });

  it("ignores the serial on other platforms and uses a persisted random id", async () => {
    await writeFile(paths.cpuinfoPath, piCpuinfo);
    const first = await loadIdentity({ ...paths, platform: "darwin" }, { hashMachineId: false });
    expect(first.machineIdSource).toBe("random");
    expect(first.machineId).toMatch(/^[0-9a-f-]{36}$/);
    const again = await loadIdentity({ ...paths, platform: "darwin" }, { hashMachineId: false });
    expect(again.machineId).toBe(first.machineId);
  });

  it("uses a random id on Linux without a serial", async () => {
    const identity = await loadIdentity(paths, { hashMachineId: false });
    expect(identity.machineIdSource).toBe("random");
    expect(JSON.parse(await readFile(paths.stateFile, "utf8")).machineId).toBe(identity.machineId);
  });

  it("sends sha256hex of the id when asked to hash it", async () => {
    await writeFile(paths.cpuinfoPath, piCpuinfo);
    const identity = await loadIdentity(paths, { hashMachineId: true });
    // printf %s 10000000a1b2c3d4 | sha256sum
    expect(identity.machineId).toBe("a438f8ac132a3df945faaa625f139445f7f383bc8ada990f5e838a6f5294f6f1");
    expect(hashId("10000000a1b2c3d4")).toBe(identity.machineId);
    expect(identity.machineId).toMatch(/^[0-9a-f]{64}$/);
    expect(identity.machineId).not.toContain("a1b2c3d4");
  });
});

describe("installation id", () => {
  it("is created once and persisted", async () => {
    const first = await loadIdentity(paths, { hashMachineId: false });
    expect(first.installationId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const second = await loadIdentity(paths, { hashMachineId: false });
    expect(second.installationId).toBe(first.installationId);
    expect(JSON.parse(await readFile(paths.stateFile, "utf8")).installationId).toBe(first.installationId);
  });

  it("survives an unreadable state file by starting over", async () => {
    await loadIdentity(paths, { hashMachineId: false });
    await writeFile(paths.stateFile, "{not json");
    const identity = await loadIdentity(paths, { hashMachineId: false });
    expect(identity.installationId).toMatch(/^[0-9a-f-]{36}$/);
    expect(JSON.parse(await readFile(paths.stateFile, "utf8")).installationId).toBe(identity.installationId);
  });
});
