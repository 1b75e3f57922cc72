// POST /api/v1/track (seed 001, SPEC §1): the legacy body (protobuf or protobuf
// JSON) in, TrackService.Track (the guarded implementation the Connect router
// serves) called with the raw body as the signed bytes, the status out:
// 200 (committed, empty body, as the 2016 collector) or 204 (no payloads).
// Errors propagate to the legacy layer, which answers their status from
// server/core/errors.ts (400, 401, 413, 503) with a small JSON body; other
// methods get 405 with Allow: POST from the layer.
import { TrackService } from "../../gen/fleetbeat/track/v1/track_service_pb.js";
import { createLegacyHandlerContext, type LegacyRoute } from "../http/legacy.js";
import { decodeCollection } from "./codec.js";
import { signedBodyKey } from "./context.js";

export const trackRoute: LegacyRoute = {
  path: "/api/v1/track",
  method: "POST",
  async handle(request) {
    const collection = decodeCollection(request.body, request.contentType || undefined);
    const context = createLegacyHandlerContext(TrackService.method.track, request);
    context.values.set(signedBodyKey, request.body);
    await request.call(TrackService.method.track, { collection }, context);
    return { status: collection.payloads.length === 0 ? 204 : 200 };
  },
};
