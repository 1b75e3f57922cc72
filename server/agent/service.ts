// AgentService (seeds/002): register, update, heartbeat. The one implementation
// behind both surfaces: the legacy POST /online, /update, /heartbeat (server/agent/
// legacy.ts, headers copied into requestHeader) and Connect/gRPC (metadata
// x-di-deviceid, x-di-token, x-di-enroll-secret). Every limit and every
// credential is checked here, so both behave the same.
import { createHash, timingSafeEqual } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import {
  type AgentService,
  type Command,
  CommandSchema,
  HeartbeatResponseSchema,
  OnlineResponseSchema,
  UpdateResponseSchema,
} from "../../gen/fleetbeat/agent/v1/agent_pb.js";
import type { AgentConfig } from "../core/config.js";
import type { ServiceDeps } from "../core/deps.js";
import { peerAddressKey } from "../core/context.js";
import { FleetbeatError } from "../core/errors.js";
import { clientIp, TrustedProxies } from "../core/ip.js";
import type { AgentCommandRow, AgentDelivery, AgentDeviceInfo, AgentResultRow, AgentTokenMint } from "../store/agent.js";
import { EnrolmentLimiter } from "./enrolment.js";
import { checkDeviceId, checkText, LIMITS } from "./limits.js";
import { hashToken, newToken } from "./tokens.js";
import { DEVICE_ID_HEADER, ENROLL_SECRET_HEADER, TOKEN_HEADER } from "./wire.js";

interface Info {
  devicename: string;
  ip: string;
  macaddress: string;
  os: string;
}

function checkInfo(info: Info): AgentDeviceInfo {
  checkText("devicename", info.devicename, LIMITS.devicename);
  checkText("ip", info.ip, LIMITS.ip);
  checkText("macaddress", info.macaddress, LIMITS.macaddress);
  checkText("os", info.os, LIMITS.os);
  return { devicename: info.devicename, ip: info.ip, macaddress: info.macaddress, os: info.os };
}

/** X-DI-TOKEN: required for update and heartbeat, optional on register. */
function presentedToken(context: HandlerContext, required: boolean): string | null {
  const token = context.requestHeader.get(TOKEN_HEADER);
  if (token === null || token === "") {
    if (required) throw new FleetbeatError("AGENT_TOKEN_INVALID", "the X-DI-TOKEN header is missing");
    return null;
  }
  if (token.length > LIMITS.token) throw new FleetbeatError("FIELD_TOO_LONG", `X-DI-TOKEN is longer than ${LIMITS.token} characters`);
  return token;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function checkResults(results: ReadonlyArray<{ id: bigint; returnCode: number; reason: string }>): AgentResultRow[] {
  const rows: AgentResultRow[] = [];
  for (const r of results) {
    checkText("reason", r.reason, LIMITS.reason);
    // Command ids are positive and below 2^53 (the stores' id columns): another id
    // cannot name a command of this device, so it finishes nothing.
    if (r.id <= 0n || r.id > MAX_SAFE) continue;
    rows.push({ id: Number(r.id), returnCode: r.returnCode, reason: r.reason });
  }
  return rows;
}

export function toWireCommands(rows: readonly AgentCommandRow[]): Command[] {
  return rows.map((c) => create(CommandSchema, { id: BigInt(c.id), type: c.type, content: c.content }));
}

function sha256(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

export function createAgentService(deps: ServiceDeps): ServiceImpl<typeof AgentService> {
  const config: AgentConfig = deps.config.agent;
  const secretDigest = config.enrollSecret ? sha256(config.enrollSecret) : undefined;
  const limiter = new EnrolmentLimiter({
    perAddressPerSecond: config.enrolPerAddressPerSecond,
    perAddressBurst: config.enrolPerAddressBurst,
    totalPerSecond: config.enrolTotalPerSecond,
    totalBurst: config.enrolTotalBurst,
  });
  const trusted = new TrustedProxies(deps.config.track.trustedProxies);

  /**
   * Registering an id the server does not know costs a token of the enrolment
   * limits; known devices re-registering (with their token or the secret) do not.
   * A read before the write: registrations are rare next to heartbeats.
   */
  async function admitNewDevice(context: HandlerContext, deviceId: string): Promise<void> {
    if (await deps.store.agent.getDevice(deviceId)) return;
    const peer = context.values.get(peerAddressKey);
    const address = clientIp(peer || undefined, context.requestHeader.get("x-forwarded-for"), context.requestHeader.get("x-real-ip"), trusted) ?? "unknown";
    const decision = limiter.take(address);
    if (decision.ok) {
      deps.metrics.observeEnrolment("accepted");
      return;
    }
    deps.metrics.observeEnrolment(decision.scope === "address" ? "limited_address" : "limited_total");
    throw new FleetbeatError("ENROLMENT_RATE_LIMITED", decision.scope === "address" ? "from this address" : "server-wide", {
      retryAfterSeconds: decision.retryAfterMs / 1000,
    });
  }

  function secretValid(context: HandlerContext): boolean {
    const given = context.requestHeader.get(ENROLL_SECRET_HEADER);
    if (!secretDigest || given === null) return false;
    return timingSafeEqual(sha256(given), secretDigest);
  }

  function delivery(now: number): AgentDelivery {
    return {
      now,
      redeliverAfterMs: Math.max(1, config.redeliverAfterIntervals) * config.intervalSeconds * 1000,
      maxCommands: config.maxCommandsPerAnswer,
    };
  }

  function mint(now: number): { token: string; mint: AgentTokenMint } {
    const token = newToken();
    return { token, mint: { token, expiresAt: now + config.tokenLifetimeMs, previousGraceMs: config.previousTokenGraceMs } };
  }

  const timing = { intervalSeconds: config.intervalSeconds, jitterSeconds: config.jitterSeconds };

  async function checkIn(context: HandlerContext, info: AgentDeviceInfo | null, results: AgentResultRow[]) {
    const deviceId = checkDeviceId(context.requestHeader.get(DEVICE_ID_HEADER));
    const token = presentedToken(context, true) as string;
    const now = deps.now();
    const fresh = mint(now);
    const result = await deps.batcher.submit({
      kind: "agentCheckIn",
      deviceId,
      presentedTokenHash: hashToken(token),
      info,
      results,
      token: fresh.mint,
      delivery: delivery(now),
    });
    if (result.verdict === "reject") throw new FleetbeatError("AGENT_TOKEN_INVALID");
    return { token: result.verdict === "keep" ? token : fresh.token, command: toWireCommands(result.commands), ...timing };
  }

  return {
    async online(request, context) {
      const deviceId = checkDeviceId(context.requestHeader.get(DEVICE_ID_HEADER));
      const token = presentedToken(context, false);
      const info = checkInfo(request);
      await admitNewDevice(context, deviceId);
      const now = deps.now();
      const fresh = mint(now);
      const result = await deps.batcher.submit({
        kind: "agentRegister",
        deviceId,
        info,
        presentedTokenHash: token === null ? null : hashToken(token),
        enrolmentSecretValid: secretValid(context),
        openEnrolment: secretDigest === undefined,
        token: fresh.mint,
        delivery: delivery(now),
      });
      if (result.outcome === "rejected") throw new FleetbeatError("AGENT_ENROLMENT_REFUSED");
      return create(OnlineResponseSchema, { token: fresh.token, command: toWireCommands(result.commands), ...timing });
    },

    async update(request, context) {
      // Headers first: a stranger learns nothing from our field checks.
      checkDeviceId(context.requestHeader.get(DEVICE_ID_HEADER));
      presentedToken(context, true);
      return create(UpdateResponseSchema, await checkIn(context, checkInfo(request), []));
    },

    async heartbeat(request, context) {
      checkDeviceId(context.requestHeader.get(DEVICE_ID_HEADER));
      presentedToken(context, true);
      return create(HeartbeatResponseSchema, await checkIn(context, null, checkResults(request.result)));
    },
  };
}
