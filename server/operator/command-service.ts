// CommandService: commands for endpoint agents (SPEC §3). Queued per targeted
// device; they ride that device's next heartbeat answer; its result finishes them.
import { durationMs } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { type CommandService, CommandState } from "../../gen/fleetbeat/operator/v1/commands_pb.js";
import type { ServiceDeps } from "../core/deps.js";
import { FleetbeatError } from "../core/errors.js";
import type { AgentCommandRow, AgentCommandTarget } from "../store/agent.js";
import type { CommandStateText } from "../store/enums.js";
import { commandMessage, commandStateOf, pageSize } from "./device-service.js";

const FINAL: ReadonlySet<CommandStateText> = new Set(["succeeded", "failed", "expired", "cancelled"]);
const MAX_WAIT_MS = 10 * 60_000;
const DEFAULT_WAIT_MS = 60_000;
const MAX_TTL_MS = 365 * 24 * 3_600_000;
const MAX_IDS = 1000;
/** How often WaitCommands looks at the store. */
const WAIT_POLL_MS = 200;

const stateText = new Map<CommandState, CommandStateText>(
  (Object.entries(commandStateOf) as Array<[CommandStateText, CommandState]>).map(([text, state]) => [state, text]),
);

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function commandIds(ids: readonly bigint[]): number[] {
  if (ids.length === 0) throw new FleetbeatError("MISSING_FIELD", "ids");
  if (ids.length > MAX_IDS) throw new FleetbeatError("BAD_REQUEST", `at most ${MAX_IDS} ids`);
  // Ids beyond 2^53 name no command (the stores' id columns); they are simply not found.
  return [...new Set(ids.filter((id) => id > 0n && id <= MAX_SAFE).map(Number))];
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}

export function createCommandService(deps: ServiceDeps): ServiceImpl<typeof CommandService> {
  const repo = deps.store.agent;
  return {
    async queueCommand(request) {
      const t = request.target?.target;
      let target: AgentCommandTarget;
      switch (t?.case) {
        case "deviceId":
          if (t.value === "") throw new FleetbeatError("MISSING_FIELD", "target.device_id");
          target = { kind: "devices", deviceIds: [t.value] };
          break;
        case "devices":
          if (t.value.deviceIds.length === 0) throw new FleetbeatError("MISSING_FIELD", "target.devices.device_ids");
          target = { kind: "devices", deviceIds: t.value.deviceIds };
          break;
        case "allDevices":
          if (!t.value) throw new FleetbeatError("BAD_REQUEST", "target.all_devices must be true");
          target = { kind: "all" };
          break;
        case "label":
          if (t.value === "") throw new FleetbeatError("MISSING_FIELD", "target.label");
          target = { kind: "label", label: t.value };
          break;
        default:
          throw new FleetbeatError("MISSING_FIELD", "target");
      }
      const ttl = request.ttl ? durationMs(request.ttl) : deps.config.agent.commandTtlMs;
      if (!(ttl > 0 && ttl <= MAX_TTL_MS)) throw new FleetbeatError("BAD_REQUEST", "ttl must be positive and at most a year");
      const now = deps.now();
      const result = await deps.batcher.submit({ kind: "agentQueueCommands", target, type: request.type, content: request.content, createdAt: now, deadline: now + ttl });
      if (result.unknownDeviceIds.length > 0) throw new FleetbeatError("DEVICE_NOT_FOUND", result.unknownDeviceIds.slice(0, 10).join(", "));
      return { commands: result.commands.map(commandMessage) };
    },

    async cancelCommand(request) {
      const result = await deps.batcher.submit({ kind: "agentCancelCommands", ids: commandIds(request.ids), now: deps.now() });
      return { commands: result.commands.map(commandMessage) };
    },

    async listCommands(request) {
      let state: CommandStateText | undefined;
      if (request.state !== CommandState.UNSPECIFIED) {
        state = stateText.get(request.state);
        if (!state) throw new FleetbeatError("BAD_REQUEST", "unknown state");
      }
      let beforeId: number | undefined;
      if (request.pageToken !== "") {
        beforeId = Number(request.pageToken);
        if (!Number.isSafeInteger(beforeId) || beforeId <= 0) throw new FleetbeatError("BAD_REQUEST", "invalid page_token");
      }
      const limit = pageSize(request.pageSize);
      const rows = await repo.listCommands({
        ...(state ? { state } : {}),
        ...(request.deviceId !== "" ? { deviceId: request.deviceId } : {}),
        ...(beforeId !== undefined ? { beforeId } : {}),
        limit: limit + 1,
      });
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return { commands: page.map(commandMessage), nextPageToken: rows.length > limit && last ? String(last.id) : "" };
    },

    async *waitCommands(request, context) {
      const ids = commandIds(request.ids);
      const timeout = request.timeout ? durationMs(request.timeout) : DEFAULT_WAIT_MS;
      if (!(timeout > 0)) throw new FleetbeatError("BAD_REQUEST", "timeout must be positive");
      const until = Date.now() + Math.min(timeout, MAX_WAIT_MS);
      const waiting = new Set(ids);
      const known = await repo.getCommands(ids);
      if (known.length !== ids.length) {
        const found = new Set(known.map((c) => c.id));
        throw new FleetbeatError("NOT_FOUND", `no command ${ids.filter((id) => !found.has(id)).slice(0, 10).join(", ")}`);
      }
      let rows: AgentCommandRow[] = known;
      for (;;) {
        for (const c of rows) {
          if (waiting.has(c.id) && FINAL.has(c.state)) {
            waiting.delete(c.id);
            yield { command: commandMessage(c) };
          }
        }
        if (waiting.size === 0 || context.signal.aborted || Date.now() >= until) return;
        await sleep(Math.min(WAIT_POLL_MS, Math.max(0, until - Date.now())), context.signal);
        rows = await repo.getCommands([...waiting]);
      }
    },
  };
}
