// Start time and idle memory of the server and the agent: spawn → GET /readyz
// answers 200 (server), spawn → the config file holds a token (agent), then the
// resident set of the process and its children after a few idle seconds.
//   node bench/startup.mjs                          the compiled bins (npm run build first)
//   node bench/startup.mjs --server "node bin/fleetbeat-dev.js" --agent "node bin/fleetbeat-dev.js agent run"
// Plain JavaScript, so it measures the command given and nothing of its own loader.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    server: { type: "string", default: "node bin/fleetbeat.js" },
    agent: { type: "string", default: "node clients/agent/dist/clients/agent/bin.js" },
    runs: { type: "string", default: "3" },
    idle: { type: "string", default: "3000" },
  },
});
const runs = Number(values.runs);
const idleMs = Number(values.idle);

const freePort = () =>
  new Promise((resolve) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what, check, deadlineMs = 60_000) {
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    if (await check()) return;
    await sleep(10);
  }
  throw new Error(`${what}: not within ${deadlineMs} ms`);
}

/** VmRSS of a process and all its descendants, in MB (Linux /proc). */
function treeRssMb(pid) {
  const children = new Map();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ppid = Number(/PPid:\s+(\d+)/.exec(readFileSync(`/proc/${entry}/status`, "utf8"))?.[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // the process ended meanwhile
    }
  }
  let kb = 0;
  let count = 0;
  const visit = (p) => {
    try {
      kb += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, "utf8"))?.[1] ?? 0);
      count += 1;
    } catch {
      return;
    }
    for (const c of children.get(p) ?? []) visit(c);
  };
  visit(pid);
  return { mb: kb / 1024, processes: count };
}

function launch(command, args, env = {}) {
  const [exe, ...rest] = command.split(" ");
  return spawn(exe === "node" ? process.execPath : exe, [...rest, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
}

async function stop(child) {
  if (child.exitCode !== null) return;
  const gone = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  await gone;
}

const median = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];

const serverStart = [];
const serverRss = [];
const agentStart = [];
const agentRss = [];
let processes = { server: 0, agent: 0 };
for (let run = 0; run < runs; run += 1) {
  const dir = mkdtempSync(join(tmpdir(), "fleetbeat-startup-"));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const started = performance.now();
  const server = launch(values.server, ["serve", "--host", "127.0.0.1", "--port", String(port), "--data-dir", dir, "--log-level", "warn"]);
  try {
    await until("server /readyz", async () => {
      if (server.exitCode !== null) throw new Error(`the server exited with ${server.exitCode}`);
      try {
        return (await fetch(`${url}/readyz`)).status === 200;
      } catch {
        return false;
      }
    });
    serverStart.push(performance.now() - started);
    await sleep(idleMs);
    const s = treeRssMb(server.pid);
    serverRss.push(s.mb);
    processes.server = s.processes;

    const config = join(dir, "agent.json");
    const agentStarted = performance.now();
    const agent = launch(values.agent, ["--server", url, "--config", config]);
    try {
      await until("agent registered", () => {
        if (agent.exitCode !== null) throw new Error(`the agent exited with ${agent.exitCode}`);
        try {
          return JSON.parse(readFileSync(config, "utf8")).token !== "";
        } catch {
          return false;
        }
      });
      agentStart.push(performance.now() - agentStarted);
      await sleep(idleMs);
      const a = treeRssMb(agent.pid);
      agentRss.push(a.mb);
      processes.agent = a.processes;
    } finally {
      await stop(agent);
    }
  } finally {
    await stop(server);
    rmSync(dir, { recursive: true, force: true });
  }
}

const row = (name, start, rss, procs) =>
  `${name.padEnd(8)} start ${median(start).toFixed(0).padStart(5)} ms (runs: ${start.map((v) => v.toFixed(0)).join(", ")})   idle RSS ${median(rss).toFixed(1).padStart(6)} MB in ${procs} process(es)`;
console.log(`server: ${values.server}\nagent:  ${values.agent}\nmedian of ${runs} runs, RSS after ${idleMs} ms idle`);
console.log(row("server", serverStart, serverRss, processes.server));
console.log(row("agent", agentStart, agentRss, processes.agent));
