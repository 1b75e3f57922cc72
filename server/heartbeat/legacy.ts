// POST /hb/newHb (seed 000): the legacy JSON body in, HeartbeatService.NewHb (the
// guarded implementation the Connect router serves) called, the legacy JSON out.
// Errors propagate to the legacy layer, which answers their status from
// server/core/errors.ts with a small JSON body.
import { HeartbeatService } from "../../gen/fleetbeat/heartbeat/v1/heartbeat_pb.js";
import { FleetbeatError } from "../core/errors.js";
import type { LegacyRoute } from "../http/legacy.js";
import { decodeNewHbBody, encodeNewHbResponse, isAcceptedContentType } from "./wire.js";

export const newHbRoute: LegacyRoute = {
  path: "/hb/newHb",
  method: "POST",
  async handle(request) {
    if (!isAcceptedContentType(request.contentType)) {
      throw new FleetbeatError("UNSUPPORTED_MEDIA_TYPE", `${request.contentType}; send application/json`);
    }
    const input = decodeNewHbBody(request.body, new URL(request.url).searchParams);
    const output = await request.call(HeartbeatService.method.newHb, input);
    return { status: 200, headers: { "content-type": "application/json" }, body: encodeNewHbResponse(output) };
  },
};
