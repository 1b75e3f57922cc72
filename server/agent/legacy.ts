// POST /online, /update, /heartbeat (seeds/002) as legacy routes: the legacy JSON
// decoded into AgentService's input, the output encoded as the seed's JSON. The
// runner (server/http/legacy.ts) calls the guarded AgentService with the
// request's headers (X-DI-DEVICEID, X-DI-TOKEN, X-DI-ENROLL-SECRET) as its
// requestHeader and answers errors with their status (400, 401, 413, 500, 503);
// the seed says agents ignore non-200 bodies.
import { AgentService } from "../../gen/fleetbeat/agent/v1/agent_pb.js";
import { callRoute, type LegacyResponse } from "../core/legacy-route.js";
import { AGENT_CONTENT_TYPE, type AgentAnswer, decodeHeartbeatRequest, decodeOnlineRequest, decodeUpdateRequest, encodeAgentAnswer } from "./wire.js";

// The seed's agents send Content-Type: application/json; the body is read as
// JSON whatever the header says, since old agents are not always exact about it.
const answer = (output: AgentAnswer): LegacyResponse => ({
  status: 200,
  headers: { "content-type": AGENT_CONTENT_TYPE },
  body: encodeAgentAnswer(output),
});

export const agentRoutes = [
  callRoute({ path: "/online", method: "POST", rpc: AgentService.method.online, decode: (request) => decodeOnlineRequest(request.body), encode: answer }),
  callRoute({ path: "/update", method: "POST", rpc: AgentService.method.update, decode: (request) => decodeUpdateRequest(request.body), encode: answer }),
  callRoute({
    path: "/heartbeat",
    method: "POST",
    rpc: AgentService.method.heartbeat,
    decode: (request) => decodeHeartbeatRequest(request.body),
    encode: answer,
  }),
] as const;
