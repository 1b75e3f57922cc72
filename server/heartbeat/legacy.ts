// POST /hb/newHb (seed 000) as a legacy route: the legacy JSON body (and query)
// decoded into HeartbeatService.NewHb's input, the output encoded as the legacy
// JSON. The runner (server/http/legacy.ts) makes the guarded call and answers
// errors with their status from server/core/errors.ts.
import { HeartbeatService } from "../../gen/fleetbeat/heartbeat/v1/heartbeat_pb.js";
import { FleetbeatError } from "../core/errors.js";
import { callRoute } from "../core/legacy-route.js";
import { decodeNewHbBody, encodeNewHbResponse, isAcceptedContentType } from "./wire.js";

export const newHbRoute = callRoute({
  path: "/hb/newHb",
  method: "POST",
  rpc: HeartbeatService.method.newHb,
  decode(request) {
    if (!isAcceptedContentType(request.contentType)) {
      throw new FleetbeatError("UNSUPPORTED_MEDIA_TYPE", `${request.contentType}; send application/json`);
    }
    return decodeNewHbBody(request.body, new URL(request.url).searchParams);
  },
  encode: (output) => ({ status: 200, headers: { "content-type": "application/json" }, body: encodeNewHbResponse(output) }),
});
