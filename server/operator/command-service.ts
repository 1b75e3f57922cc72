// CommandService: commands for endpoint agents (SPEC §3). A command for listed
// devices is queued per device at once; for a label or every device the request
// only starts a campaign (one row, an estimate of bounded cost) and the campaign
// job (server/agent/command-jobs.ts) gives devices their command in chunks.
// Commands ride a device's next heartbeat answer; its result finishes them.
import { create } from "@bufbuild/protobuf";
import { durationFromMs, durationMs, timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  type Campaign,
  type CampaignOptions,
  CampaignSchema,
  CampaignState,
  type CommandService,
  CommandState,
} from "../../gen/fleetbeat/operator/v1/commands_pb.js";
import type { ServiceDeps } from "../core/deps.js";
import { FleetbeatError } from "../core/errors.js";
import { type AgentCampaignPolicy, type AgentCampaignRow, type AgentCampaignTarget, type AgentCommandRow, finalCommandStates } from "../store/agent.js";
import type { CampaignStateText, CommandStateText } from "../store/enums.js";
import { commandMessage, commandStateOf, pageSize } from "./device-service.js";

const FINAL: ReadonlySet<CommandStateText> = new Set(["succeeded", "failed", "expired", "cancelled"]);
const MAX_WAIT_MS = 10 * 60_000;
const DEFAULT_WAIT_MS = 60_000;
const MAX_TTL_MS = 365 * 24 * 3_600_000;
const MAX_IDS = 1000;
/** Most devices one QueueCommand lists; a bigger target is a label (a campaign). */
const MAX_LISTED_DEVICES = 1000;
/** The size estimate of a new campaign counts at most this many rows, then reads a statistic. */
const ESTIMATE_CAP = 10_000;
/** Most commands one PurgeCommands call deletes (in steps of commandBatchSize). */
const MAX_PURGE = 10_000;
const MAX_RETRIES = 100;
const MAX_BACKOFF_MS = 7 * 24 * 3_600_000;

const campaignStateOf: Record<CampaignStateText, CampaignState> = {
  running: CampaignState.RUNNING,
  completed: CampaignState.COMPLETED,
  aborted: CampaignState.ABORTED,
  cancelled: CampaignState.CANCELLED,
  expired: CampaignState.EXPIRED,
};
const campaignStateText = new Map<CampaignState, CampaignStateText>(
  (Object.entries(campaignStateOf) as Array<[CampaignStateText, CampaignState]>).map(([text, state]) => [state, text]),
);

export function campaignMessage(c: AgentCampaignRow): Campaign {
  return create(CampaignSchema, {
    id: BigInt(c.id),
    state: campaignStateOf[c.state],
    target: { target: c.target === "label" ? { case: "label", value: c.label ?? "" } : { case: "allDevices", value: true } },
    type: c.type,
    content: c.content,
    options: {
      devicesPerMinute: c.devicesPerMinute,
      abortFailurePercent: c.abortFailurePercent,
      abortMinResults: c.abortMinResults,
      retryCount: c.retryCount,
      ...(c.retryBackoffMs > 0 ? { retryBackoff: durationFromMs(c.retryBackoffMs) } : {}),
    },
    createdAt: timestampFromMs(c.createdAt),
    deadline: timestampFromMs(c.deadline),
    ...(c.finishedAt !== null ? { finishedAt: timestampFromMs(c.finishedAt) } : {}),
    targeted: BigInt(c.targeted),
    estimated: BigInt(c.estimated),
    materialised: c.materialised,
    succeeded: BigInt(c.succeeded),
    failed: BigInt(c.failed),
    retried: BigInt(c.retried),
    reason: c.reason ?? "",
  });
}

function campaignPolicy(o: CampaignOptions | undefined): AgentCampaignPolicy {
  const policy: AgentCampaignPolicy = {
    devicesPerMinute: o?.devicesPerMinute ?? 0,
    abortFailurePercent: o?.abortFailurePercent ?? 0,
    abortMinResults: o?.abortMinResults ?? 0,
    retryCount: o?.retryCount ?? 0,
    retryBackoffMs: o?.retryBackoff ? durationMs(o.retryBackoff) : 0,
  };
  if (policy.abortFailurePercent > 100) throw new FleetbeatError("BAD_REQUEST", "campaign.abort_failure_percent must be 0 to 100");
  if (policy.retryCount > MAX_RETRIES) throw new FleetbeatError("BAD_REQUEST", `campaign.retry_count must be at most ${MAX_RETRIES}`);
  if (!(policy.retryBackoffMs >= 0 && policy.retryBackoffMs <= MAX_BACKOFF_MS)) throw new FleetbeatError("BAD_REQUEST", "campaign.retry_backoff must be 0 to 7 days");
  return policy;
}

/** A positive id within the stores' id range, or the error naming the field. */
function rowId(id: bigint, field: string): number {
  if (id <= 0n || id > MAX_SAFE) throw new FleetbeatError("MISSING_FIELD", field);
  return Number(id);
}
/** How often WaitCommands looks at the store. */
const WAIT_POLL_MS = 200;

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

const stateText = new Map<CommandState, CommandStateText>(
  (Object.entries(commandStateOf) as Array<[CommandStateText, CommandState]>).map(([text, state]) => [state, text]),
);


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

/** Keyset paging, newest first: the id a page token names (undefined for the first page). */
function beforeIdOf(pageToken: string): number | undefined {
  if (pageToken === "") return undefined;
  const id = Number(pageToken);
  if (!Number.isSafeInteger(id) || id <= 0) throw new FleetbeatError("BAD_REQUEST", "invalid page_token");
  return id;
}

export function createCommandService(deps: ServiceDeps): ServiceImpl<typeof CommandService> {
  const repo = deps.store.agent;
  return {
    async queueCommand(request) {
      const t = request.target?.target;
      let deviceIds: string[] | undefined;
      let target: AgentCampaignTarget;
      switch (t?.case) {
        case "deviceId":
          if (t.value === "") throw new FleetbeatError("MISSING_FIELD", "target.device_id");
          deviceIds = [t.value];
          break;
        case "devices":
          if (t.value.deviceIds.length === 0) throw new FleetbeatError("MISSING_FIELD", "target.devices.device_ids");
          if (t.value.deviceIds.length > MAX_LISTED_DEVICES) {
            throw new FleetbeatError("BAD_REQUEST", `at most ${MAX_LISTED_DEVICES} listed devices; label the devices and target the label`);
          }
          deviceIds = t.value.deviceIds;
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
      if (deviceIds) {
        if (request.campaign) throw new FleetbeatError("BAD_REQUEST", "campaign options apply to a label or all devices");
        const result = await deps.batcher.submit({
          kind: "agentQueueCommands", target: { kind: "devices", deviceIds }, type: request.type, content: request.content, createdAt: now, deadline: now + ttl,
        });
        if (result.unknownDeviceIds.length > 0) throw new FleetbeatError("DEVICE_NOT_FOUND", result.unknownDeviceIds.slice(0, 10).join(", "));
        return { commands: result.commands.map(commandMessage) };
      }
      const started = await deps.batcher.submit({
        kind: "agentStartCampaign",
        target: target!,
        type: request.type,
        content: request.content,
        createdAt: now,
        deadline: now + ttl,
        policy: campaignPolicy(request.campaign),
        estimateCap: ESTIMATE_CAP,
      });
      deps.logger.info({ campaign: started.campaign.id, target: started.campaign.target, label: started.campaign.label, estimated: started.campaign.estimated }, "campaign started");
      return { commands: [], campaign: campaignMessage(started.campaign) };
    },

    async getCampaign(request) {
      const c = await repo.getCampaign(rowId(request.id, "id"));
      if (!c) throw new FleetbeatError("NOT_FOUND", `no campaign ${request.id}`);
      return { campaign: campaignMessage(c) };
    },

    async listCampaigns(request) {
      let state: CampaignStateText | undefined;
      if (request.state !== CampaignState.UNSPECIFIED) {
        state = campaignStateText.get(request.state);
        if (!state) throw new FleetbeatError("BAD_REQUEST", "unknown state");
      }
      const beforeId = beforeIdOf(request.pageToken);
      const limit = pageSize(request.pageSize);
      const rows = await repo.listCampaigns({ ...(state ? { state } : {}), ...(beforeId !== undefined ? { beforeId } : {}), limit: limit + 1 });
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return { campaigns: page.map(campaignMessage), nextPageToken: rows.length > limit && last ? String(last.id) : "" };
    },

    async cancelCampaign(request) {
      const result = await deps.batcher.submit({ kind: "agentCancelCampaign", campaignId: rowId(request.id, "id"), now: deps.now(), reason: "cancelled by an operator" });
      if (!result.campaign) throw new FleetbeatError("NOT_FOUND", `no campaign ${request.id}`);
      return { campaign: campaignMessage(result.campaign) };
    },

    async purgeCommands(request) {
      let states: CommandStateText[] = [...finalCommandStates];
      if (request.state !== CommandState.UNSPECIFIED) {
        const state = stateText.get(request.state);
        if (!state) throw new FleetbeatError("BAD_REQUEST", "unknown state");
        if (!FINAL.has(state)) throw new FleetbeatError("BAD_REQUEST", "only final commands can be purged (succeeded, failed, expired, cancelled); cancel open ones first");
        states = [state];
      }
      const campaignId = request.campaignId === 0n ? undefined : rowId(request.campaignId, "campaign_id");
      const finishedBefore = request.finishedBefore ? timestampMs(request.finishedBefore) : undefined;
      const step = deps.config.agent.commandBatchSize;
      let deleted = 0;
      let more = true;
      // Bounded per call: at most MAX_PURGE commands, each step one short operation.
      while (more && deleted < MAX_PURGE) {
        const result = await deps.batcher.submit({
          kind: "agentPurgeCommands",
          states,
          ...(campaignId !== undefined ? { campaignId } : {}),
          ...(finishedBefore !== undefined ? { finishedBefore } : {}),
          limit: Math.min(step, MAX_PURGE - deleted),
        });
        deleted += result.deleted;
        more = result.more;
      }
      return { deleted: BigInt(deleted), more };
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
      const beforeId = beforeIdOf(request.pageToken);
      const limit = pageSize(request.pageSize);
      const rows = await repo.listCommands({
        ...(state ? { state } : {}),
        ...(request.deviceId !== "" ? { deviceId: request.deviceId } : {}),
        ...(request.campaignId !== 0n ? { campaignId: rowId(request.campaignId, "campaign_id") } : {}),
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
