// The agent (clients/agent) against the real server: the library in-process, and
// the `fleetbeat agent run` CLI as a child process that is killed with SIGKILL.
import { type ChildProcess, spawn } from "node:child_process";
import net from "node:net";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CommandService, CommandState } from "../gen/fleetbeat/operator/v1/commands_pb.js";
import { DeviceService } from "../gen/fleetbeat/operator/v1/devices_pb.js";
import { Agent, type DeviceInfo, RegistrationFailedError, type ServerCommand } from "../clients/agent/agent.js";
import { hashToken } from "../server/agent/tokens.js";
import { defaultConfig } from "../server/core/config.js";
import { clientFor } from "./support/clients.js";
import { startScriptedFront } from "./support/scripted-front.js";
import { bearer, makeTempDir, operatorSecret, startTestServer, type TestServer } from "./support/server.js";

const bin = fileURLToPath(new URL("../bin/fleetbeat-dev.js", import.meta.url));
const fastAgent = { ...defaultConfig.agent, intervalSeconds: 1, jitterSeconds: 0, redeliverAfterIntervals: 2, expireEveryMs: 200 };

async function until<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function writeConfig(file: string, server: string, deviceId: string, extra: Record<string, unknown> = {}): void {
  writeFileSync(file, JSON.stringify({ server, deviceId, token: "", executed: [], unreported: [], ...extra }));
}

describe("agent library against the real server", () => {
  let t: TestServer;
  let admin: Record<string, string>;
  beforeAll(async () => {
    t = await startTestServer({ agent: fastAgent });
    admin = bearer(await operatorSecret(t.server.store, "admin"));
  });
  afterAll(async () => {
    await t?.dispose();
  });

  it("registers, runs commands once, reports results, sends /update, re-registers on 401, survives a server restart", async () => {
    const dir = await makeTempDir("fleetbeat-agent-");
    const configFile = path.join(dir, "agent.json");
    const deviceId = "lib-agent-1";
    writeConfig(configFile, t.server.url, deviceId);
    let info: DeviceInfo = { devicename: "EndPoint1", ip: "10.0.0.1", macaddress: "00:0c:29:59:ab:c6", os: "Linux" };
    const recorded: string[] = [];
    const agent = new Agent({
      configFile,
      info: () => info,
      recording: {
        start: (content) => {
          recorded.push(`start:${content}`);
        },
        stop: (content) => {
          recorded.push(`stop:${content}`);
        },
      },
      handlers: { 7: (c: ServerCommand) => ({ returnCode: 1, reason: `type 7 refused ${c.content}` }) },
      registerRetryMs: 50,
    });
    const running = agent.run();
    try {
      const device = await until("registration", () => t.server.store.agent.getDevice(deviceId));
      expect(device.devicename).toBe("EndPoint1");
      // The token in the config file is the one the server holds (as a hash).
      const saved = await until("the token saved", () => {
        const file = JSON.parse(readFileSync(configFile, "utf8")) as { token: string };
        return file.token !== "" ? file : undefined;
      });
      expect(hashToken(saved.token)).toBe((await t.server.store.agent.getDevice(deviceId))?.tokenHash);

      const commands = clientFor(CommandService, "connect-json", t.server.url);
      const queue = async (type: number, content: string) =>
        (await commands.queueCommand({ target: { target: { case: "deviceId", value: deviceId } }, type, content }, { headers: admin })).commands[0]!.id;
      const finalState = async (id: bigint) => {
        for await (const m of commands.waitCommands({ ids: [id] }, { headers: admin })) return m.command!;
        throw new Error("no final state");
      };
      const c1 = await queue(1, '{"whitelist":["/usr/bin"]}');
      const c2 = await queue(2, "");
      const c7 = await queue(7, "x");
      expect(await finalState(c1)).toMatchObject({ state: CommandState.SUCCEEDED, returnCode: 0 });
      expect(await finalState(c2)).toMatchObject({ state: CommandState.SUCCEEDED });
      expect(await finalState(c7)).toMatchObject({ state: CommandState.FAILED, returnCode: 1, reason: "type 7 refused x" });
      expect(recorded).toEqual(['start:{"whitelist":["/usr/bin"]}', "stop:"]);

      // Info change → /update.
      info = { ...info, ip: "10.0.0.2" };
      await until("update", async () => (await t.server.store.agent.getDevice(deviceId))?.ip === "10.0.0.2");
      // The server commits before the agent has read the answer: wait for the agent's side too.
      await until("the agent counted its update", () => agent.stats.updates >= 1);

      // The operator forgets the device: its next heartbeat gets 401 and it registers again.
      const devices = clientFor(DeviceService, "connect-json", t.server.url);
      await devices.deleteDevice({ deviceId }, { headers: admin });
      await until("re-registration", () => agent.stats.registrations >= 2);
      await until("device back", () => t.server.store.agent.getDevice(deviceId));

      // Server restart on the same port and data: the agent carries on with its token.
      const port = t.server.port;
      await t.server.stop();
      const beatsBefore = agent.stats.heartbeats;
      t = await startTestServer({ agent: fastAgent, port }, { dataDir: t.dataDir });
      const registrations = agent.stats.registrations;
      await until("heartbeats after restart", async () => {
        const d = await t.server.store.agent.getDevice(deviceId);
        return agent.stats.heartbeats >= beatsBefore + 3 && d !== undefined && d.lastSeen !== null && d.lastSeen > Date.now() - 1500;
      });
      expect(agent.stats.registrations).toBe(registrations);
    } finally {
      agent.stop();
      await running.catch(() => undefined);
    }
    await running;
  });

  it("429/503 are not failures: it waits as long as Retry-After asks, registers, and defers the next heartbeat", { timeout: 30_000 }, async () => {
    const front = await startScriptedFront(t.server.url, [
      { path: "/online", status: 503, retryAfter: "1" },
      { path: "/online", status: 429, retryAfter: "1" },
      { path: "/online", status: 503, retryAfter: "1" },
      { path: "/heartbeat", status: 503, retryAfter: "2" },
    ]);
    const dir = await makeTempDir("fleetbeat-agent-");
    const configFile = path.join(dir, "agent.json");
    writeConfig(configFile, front.url, "patient");
    // registerRetryMs 20: without Retry-After the tries would come 20 ms apart, and the third 503 would end the run.
    const agent = new Agent({ configFile, info: () => ({ devicename: "n", ip: "", macaddress: "", os: "" }), registerRetryMs: 20, jitterSeconds: 0 });
    const running = agent.run();
    try {
      const paths = (name: string) => front.arrivals.filter((arrival) => arrival.path === name);
      await until("a heartbeat answered 200 after the deferred one", () => paths("/heartbeat").some((arrival) => arrival.status === 200));
      const online = paths("/online");
      expect(online.map((arrival) => arrival.status)).toEqual([503, 429, 503, 200]);
      for (let i = 1; i < online.length; i++) expect((online[i] as { at: number }).at - (online[i - 1] as { at: number }).at).toBeGreaterThanOrEqual(950);
      const beats = paths("/heartbeat");
      expect(beats.slice(0, 2).map((arrival) => arrival.status)).toEqual([503, 200]);
      // The server's interval is 1 s; the 503 asked for 2.
      expect((beats[1] as { at: number }).at - (beats[0] as { at: number }).at).toBeGreaterThanOrEqual(1_950);
      expect(agent.stats.registrations).toBe(1);
    } finally {
      agent.stop();
      await running;
      await front.close();
    }
  });

  it("gives up after 3 consecutive failed registrations", async () => {
    const closed = await startTestServer({ agent: { ...fastAgent, enrollSecret: "only-for-friends" } });
    try {
      const dir = await makeTempDir("fleetbeat-agent-");
      const configFile = path.join(dir, "agent.json");
      writeConfig(configFile, closed.server.url, "stranger");
      const agent = new Agent({ configFile, info: () => ({ devicename: "n", ip: "", macaddress: "", os: "" }), registerRetryMs: 20 });
      await expect(agent.run()).rejects.toBeInstanceOf(RegistrationFailedError);
      // The CLI exits non-zero for the same reason.
      const child = spawn(process.execPath, [bin, "agent", "run", "--config", configFile, "--register-retry", "20"], { stdio: ["ignore", "ignore", "pipe"] });
      let stderr = "";
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
      expect(code).toBe(1);
      expect(stderr).toMatch(/registration failed 3 times/);
    } finally {
      await closed.dispose();
    }
  });
});

describe("fleetbeat agent run: what it logs", () => {
  it("the cause of a connection failure: ECONNREFUSED and the address, not only \"fetch failed\"", async () => {
    // A loopback port nobody listens on: take a free one, then close it.
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const dir = await makeTempDir("fleetbeat-agent-log-");
    const child = spawn(process.execPath, [bin, "agent", "run", "--config", path.join(dir, "agent.json"), "--server", `http://127.0.0.1:${port}`, "--register-retry", "20ms"], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    expect(code).toBe(1);
    const failures = stderr
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as { msg: string; error?: string })
      .filter((entry) => entry.msg === "registration failed");
    expect(failures).toHaveLength(3);
    for (const failure of failures) expect(failure.error).toContain(`ECONNREFUSED 127.0.0.1:${port}`);
  });

  it("each command it runs and its outcome, against a real server", async () => {
    const t = await startTestServer({ agent: fastAgent });
    const admin = bearer(await operatorSecret(t.server.store, "admin"));
    const dir = await makeTempDir("fleetbeat-agent-log-");
    const child = spawn(
      process.execPath,
      [bin, "agent", "run", "--config", path.join(dir, "agent.json"), "--server", t.server.url, "--device-id", "logging-agent", "--interval", "1", "--handler", "7=echo all good", "--handler", "8=echo broken >&2; exit 3"],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const entries = () =>
      stderr
        .split("\n")
        .filter((line) => line.startsWith("{"))
        .map((line) => JSON.parse(line) as { level: string; msg: string; id?: string; type?: number; returnCode?: number; reason?: string });
    try {
      await until("registration", () => t.server.store.agent.getDevice("logging-agent"), 20_000);
      const commands = clientFor(CommandService, "connect-json", t.server.url);
      const queue = async (type: number) =>
        String((await commands.queueCommand({ target: { target: { case: "deviceId", value: "logging-agent" } }, type, content: "" }, { headers: admin })).commands[0]!.id);
      const ok = await queue(7);
      const bad = await queue(8);
      await until("both outcomes logged", () => entries().filter((e) => e.msg === "command succeeded" || e.msg === "command failed").length >= 2, 20_000);
      const log = entries();
      expect(log).toContainEqual(expect.objectContaining({ level: "info", msg: "running command", id: ok, type: 7 }));
      expect(log).toContainEqual(expect.objectContaining({ level: "info", msg: "command succeeded", id: ok, type: 7, returnCode: 0, reason: "all good" }));
      expect(log).toContainEqual(expect.objectContaining({ level: "info", msg: "running command", id: bad, type: 8 }));
      expect(log).toContainEqual(expect.objectContaining({ level: "warn", msg: "command failed", id: bad, type: 8, returnCode: 1, reason: "broken" }));
    } finally {
      child.kill("SIGTERM");
      await new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once("exit", resolve)));
      await t.dispose();
    }
  });
});

describe("fleetbeat agent run, killed with SIGKILL", () => {
  let t: TestServer;
  let admin: Record<string, string>;
  const children: ChildProcess[] = [];
  beforeAll(async () => {
    t = await startTestServer({ agent: fastAgent });
    admin = bearer(await operatorSecret(t.server.store, "admin"));
  });
  afterAll(async () => {
    for (const child of children) {
      if (child.exitCode !== null || child.signalCode !== null || !child.pid) continue;
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    await t?.dispose();
  });

  function startAgent(configFile: string, onStart: string): ChildProcess {
    const child = spawn(process.execPath, [bin, "agent", "run", "--config", configFile, "--server", t.server.url, "--device-id", "cli-agent-1", "--on-start", onStart, "--interval", "1"], {
      stdio: "ignore",
      detached: true, // its own process group: SIGKILL reaches the agent and the handler it runs
    });
    children.push(child);
    return child;
  }

  it("never runs a command twice, even when killed while running it", async () => {
    const dir = await makeTempDir("fleetbeat-agent-cli-");
    const configFile = path.join(dir, "agent.json");
    const runs = path.join(dir, "runs.txt");
    const commands = clientFor(CommandService, "connect-json", t.server.url);
    const queue = async () =>
      (await commands.queueCommand({ target: { target: { case: "deviceId", value: "cli-agent-1" } }, type: 1, content: "rec" }, { headers: admin })).commands[0]!.id;
    const finalState = async (id: bigint) => {
      for await (const m of commands.waitCommands({ ids: [id], timeout: { seconds: 20n } }, { headers: admin })) return m.command!;
      throw new Error("no final state");
    };

    const first = startAgent(configFile, `echo "$DI_COMMAND_ID" >> "${runs}"; sleep 30`);
    await until("registration", () => t.server.store.agent.getDevice("cli-agent-1"), 20_000);
    const c1 = await queue();
    await until("the handler started", () => existsSync(runs) && readFileSync(runs, "utf8").trim() !== "", 20_000);
    process.kill(-first.pid!, "SIGKILL");
    await new Promise((resolve) => (first.exitCode !== null ? resolve(null) : first.once("exit", resolve)));

    // Restarted: the server delivers c1 again (no result came back); the agent
    // reports it instead of running it again.
    startAgent(configFile, `echo "$DI_COMMAND_ID" >> "${runs}"`);
    const c1Final = await finalState(c1);
    expect(c1Final.state).toBe(CommandState.FAILED);
    expect(c1Final.reason).toMatch(/not run twice/);
    expect(c1Final.deliveryCount).toBeGreaterThanOrEqual(2);
    const c2 = await queue();
    expect((await finalState(c2)).state).toBe(CommandState.SUCCEEDED);
    expect(readFileSync(runs, "utf8").trim().split("\n")).toEqual([String(c1), String(c2)]);
  });
});
