// POST /api/v1/track (seed 001, SPEC §1) as a legacy route: the legacy body
// (protobuf or protobuf JSON) decoded into TrackService.Track's input, with the
// raw body put in the call's context as the signed bytes; the answer is the
// status alone: 200 (committed, empty body, as the 2016 collector) or 204 (no
// payloads). The runner (server/http/legacy.ts) answers errors from
// server/core/errors.ts (400, 401, 413, 503) and other methods with 405.
import { TrackService } from "../../gen/fleetbeat/track/v1/track_service_pb.js";
import { callRoute } from "../core/legacy-route.js";
import { decodeCollection } from "./codec.js";
import { signedBodyKey } from "./context.js";

export const trackRoute = callRoute({
  path: "/api/v1/track",
  method: "POST",
  // The browser tracker (clients/tracker/browser.ts) posts here from the app's own origin.
  browsers: true,
  rpc: TrackService.method.track,
  decode(request, context) {
    const collection = decodeCollection(request.body, request.contentType || undefined);
    context.values.set(signedBodyKey, request.body);
    return { collection };
  },
  encode: (_output, input) => ({ status: input.collection?.payloads.length === 0 ? 204 : 200 }),
});
