// DeviceService: endpoint agents as the operator sees them (SPEC §3, §4): list
// with online state and filters, detail with command history, labels (the
// targets of label commands), delete.
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { type Command, CommandSchema, CommandState } from "../../gen/fleetbeat/operator/v1/commands_pb.js";
import { type Device, DeviceSchema, type DeviceService, OnlineFilter } from "../../gen/fleetbeat/operator/v1/devices_pb.js";
import type { ServiceDeps } from "../core/deps.js";
import { FleetbeatError } from "../core/errors.js";
import type { AgentCommandRow, AgentDeviceRow } from "../store/agent.js";
import type { CommandStateText } from "../store/enums.js";

const MAX_PAGE = 1000;
const DEFAULT_PAGE = 100;
const MAX_LABEL = 64;

export const commandStateOf: Record<CommandStateText, CommandState> = {
  queued: CommandState.QUEUED,
  delivered: CommandState.DELIVERED,
  succeeded: CommandState.SUCCEEDED,
  failed: CommandState.FAILED,
  expired: CommandState.EXPIRED,
  cancelled: CommandState.CANCELLED,
};

export function pageSize(requested: number): number {
  return requested === 0 ? DEFAULT_PAGE : Math.min(requested, MAX_PAGE);
}

export function commandMessage(c: AgentCommandRow): Command {
  return create(CommandSchema, {
    id: BigInt(c.id),
    deviceId: c.deviceId,
    type: c.type,
    content: c.content,
    state: commandStateOf[c.state],
    createdAt: timestampFromMs(c.createdAt),
    deadline: timestampFromMs(c.deadline),
    ...(c.deliveredAt !== null ? { deliveredAt: timestampFromMs(c.deliveredAt) } : {}),
    ...(c.finishedAt !== null ? { finishedAt: timestampFromMs(c.finishedAt) } : {}),
    deliveryCount: c.deliveryCount,
    returnCode: c.returnCode ?? 0,
    reason: c.reason ?? "",
    campaignId: BigInt(c.campaignId ?? 0),
    attempt: c.attempt,
  });
}

/** Online while last_seen + interval + grace > now: the earliest last_seen still online. */
export function onlineThreshold(deps: Pick<ServiceDeps, "config" | "now">): number {
  const { intervalSeconds, onlineGraceMs } = deps.config.agent;
  return deps.now() - intervalSeconds * 1000 - onlineGraceMs;
}

function deviceMessage(d: AgentDeviceRow, labels: string[], threshold: number): Device {
  return create(DeviceSchema, {
    deviceId: d.deviceId,
    devicename: d.devicename,
    ip: d.ip,
    macaddress: d.macaddress,
    os: d.os,
    labels,
    registeredAt: timestampFromMs(d.registeredAt),
    updatedAt: timestampFromMs(d.updatedAt),
    ...(d.lastSeen !== null ? { lastSeen: timestampFromMs(d.lastSeen) } : {}),
    online: d.lastSeen !== null && d.lastSeen > threshold,
    tokenExpiresAt: timestampFromMs(d.tokenExpiresAt),
  });
}

function checkLabels(labels: readonly string[]): string[] {
  for (const label of labels) {
    if (label === "" || Array.from(label).length > MAX_LABEL) throw new FleetbeatError("BAD_REQUEST", `labels are 1–${MAX_LABEL} characters`);
  }
  return [...new Set(labels)];
}

function decodePageToken(token: string): string | undefined {
  if (token === "") return undefined;
  const text = Buffer.from(token, "base64url").toString("utf8");
  if (!text.startsWith("d:")) throw new FleetbeatError("BAD_REQUEST", "invalid page_token");
  return text.slice(2);
}

export function createDeviceService(deps: ServiceDeps): ServiceImpl<typeof DeviceService> {
  const repo = deps.store.agent;

  async function loadDevice(deviceId: string): Promise<Device> {
    const row = await repo.getDevice(deviceId);
    if (!row) throw new FleetbeatError("DEVICE_NOT_FOUND", deviceId);
    const labels = await repo.labelsOf([deviceId]);
    return deviceMessage(row, labels.get(deviceId) ?? [], onlineThreshold(deps));
  }

  return {
    async listDevices(request) {
      const limit = pageSize(request.pageSize);
      const threshold = onlineThreshold(deps);
      const rows = await repo.listDevices({
        ...(request.online === OnlineFilter.ONLINE ? { seenAfter: threshold } : {}),
        ...(request.online === OnlineFilter.OFFLINE ? { notSeenAfter: threshold } : {}),
        ...(request.os !== "" ? { os: request.os } : {}),
        ...(request.label !== "" ? { label: request.label } : {}),
        ...(request.query !== "" ? { query: request.query } : {}),
        ...(request.pageToken !== "" ? { afterDeviceId: decodePageToken(request.pageToken) } : {}),
        limit: limit + 1,
      });
      const page = rows.slice(0, limit);
      const labels = await repo.labelsOf(page.map((d) => d.deviceId));
      const last = page[page.length - 1];
      return {
        devices: page.map((d) => deviceMessage(d, labels.get(d.deviceId) ?? [], threshold)),
        nextPageToken: rows.length > limit && last ? Buffer.from(`d:${last.deviceId}`, "utf8").toString("base64url") : "",
      };
    },

    async getDevice(request) {
      const device = await loadDevice(request.deviceId);
      const commands = await repo.listCommands({ deviceId: request.deviceId, limit: pageSize(request.commandLimit) });
      return { device, commands: commands.map(commandMessage) };
    },

    async setDeviceLabels(request) {
      const result = await deps.batcher.submit({
        kind: "agentSetLabels",
        deviceId: request.deviceId,
        add: checkLabels(request.add),
        remove: checkLabels(request.remove),
      });
      if (!result.found) throw new FleetbeatError("DEVICE_NOT_FOUND", request.deviceId);
      return { device: await loadDevice(request.deviceId) };
    },

    async deleteDevice(request) {
      const result = await deps.batcher.submit({ kind: "agentDeleteDevice", deviceId: request.deviceId, now: deps.now() });
      return { deleted: result.deleted };
    },
  };
}
