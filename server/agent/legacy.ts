// POST /online, /update, /heartbeat (seeds/002): the legacy JSON in, the guarded
// AgentService (the object the Connect router serves) called with the request's
// headers (X-DI-DEVICEID, X-DI-TOKEN, X-DI-ENROLL-SECRET) as its requestHeader,
// the seed's JSON out. Errors propagate: the legacy layer answers their status
// (400, 401, 413, 500, 503) and the seed says agents ignore non-200 bodies.
import type { DescMessage, DescMethodUnary } from "@bufbuild/protobuf";
import { AgentService } from "../../gen/fleetbeat/agent/v1/agent_pb.js";
import type { LegacyRequest, LegacyResponse, LegacyRoute } from "../http/legacy.js";
import { AGENT_CONTENT_TYPE, type AgentAnswer, decodeHeartbeatRequest, decodeOnlineRequest, decodeUpdateRequest, encodeAgentAnswer } from "./wire.js";

function route<I extends DescMessage, O extends DescMessage>(
  path: string,
  method: DescMethodUnary<I, O>,
  decode: (body: Uint8Array) => Parameters<LegacyRequest["call"]>[1],
): LegacyRoute {
  return {
    path,
    method: "POST",
    // The seed's agents send Content-Type: application/json; the body is read as
    // JSON whatever the header says, since old agents are not always exact about it.
    async handle(request): Promise<LegacyResponse> {
      const output = (await request.call(method, decode(request.body) as never)) as unknown as AgentAnswer;
      return { status: 200, headers: { "content-type": AGENT_CONTENT_TYPE }, body: encodeAgentAnswer(output) };
    },
  };
}

export const agentRoutes: readonly LegacyRoute[] = [
  route("/online", AgentService.method.online, decodeOnlineRequest),
  route("/update", AgentService.method.update, decodeUpdateRequest),
  route("/heartbeat", AgentService.method.heartbeat, decodeHeartbeatRequest),
];
