// TrackService.Track: the one implementation behind the Connect/gRPC method and
// the legacy POST /api/v1/track. In order:
//   1. the collection is complete and sane (proto2 required fields present on the
//      wire, sizes, `at` within 2^53, session = md5(device:client:system:product)) → 400;
//   2. X-Hamustro-Time / X-Hamustro-Signature (request headers or gRPC metadata)
//      sign the body with the client_id's secret (or the global one; the previous
//      one too during its grace period) → 401;
//   3. every payload without `ip` gets the caller's address (forwarded headers only
//      from trusted proxies), masked when configured;
//   4. the events go to the batcher and the answer leaves only after their
//      transaction committed. (session, nr) is unique in the store, so a resend —
//      even racing the original — stores nothing twice and counts as duplicates.
import { toBinary } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { CollectionSchema } from "../../gen/fleetbeat/track/v1/collection_pb.js";
import type { TrackService } from "../../gen/fleetbeat/track/v1/track_service_pb.js";
import { peerAddressKey } from "../core/context.js";
import type { ServiceDeps } from "../core/deps.js";
import { FleetbeatError } from "../core/errors.js";
import { signedBodyKey } from "./context.js";
import { clientIp, maskIp, TrustedProxies } from "../core/ip.js";
import { TrackSecrets } from "./secrets.js";
import { md5Hex, signatureMatches } from "./signing.js";
import { checkCollection, eventRowsOf, sessionRowOf } from "./validate.js";

/** Longest X-Hamustro-Time accepted (epoch seconds as text). */
const MAX_TIME_LENGTH = 32;

export function createTrackService(deps: ServiceDeps): ServiceImpl<typeof TrackService> {
  const config = deps.config.track;
  const secrets = new TrackSecrets(config.secrets, config.secretGraceMs);
  const trusted = new TrustedProxies(config.trustedProxies);
  if (!secrets.configured) deps.logger.warn("no tracking secrets configured (track.secrets): every tracking request will be refused with 401");

  function authenticate(context: HandlerContext, clientId: string, signedBytes: () => Uint8Array): void {
    const time = context.requestHeader.get("x-hamustro-time");
    const given = context.requestHeader.get("x-hamustro-signature");
    if (!time || !given) throw new FleetbeatError("BAD_SIGNATURE", "X-Hamustro-Time and X-Hamustro-Signature are required");
    if (time.length > MAX_TIME_LENGTH) throw new FleetbeatError("BAD_SIGNATURE", "X-Hamustro-Time is too long");
    const candidates = secrets.secretsFor(clientId, deps.now());
    if (!signatureMatches(time, md5Hex(signedBytes()), given.trim(), candidates)) throw new FleetbeatError("BAD_SIGNATURE");
  }

  return {
    async track(request, context) {
      const collection = request.collection;
      if (!collection) throw new FleetbeatError("MISSING_FIELD", "collection");
      checkCollection(collection);
      authenticate(context, collection.clientId, () => context.values.get(signedBodyKey) ?? toBinary(CollectionSchema, collection));
      if (collection.payloads.length === 0) return { accepted: 0, duplicates: 0 };

      const peer = context.values.get(peerAddressKey);
      let ip = clientIp(peer || undefined, context.requestHeader.get("x-forwarded-for"), context.requestHeader.get("x-real-ip"), trusted);
      if (ip !== null && config.maskIp) ip = maskIp(ip);
      const events = eventRowsOf(collection, ip);
      if (config.maskIp) for (const event of events) if (event.ip !== null) event.ip = maskIp(event.ip);

      const result = await deps.batcher.submit({ kind: "insertEvents", session: sessionRowOf(collection), events, receivedAt: deps.now() });
      return { accepted: result.inserted, duplicates: result.duplicates + (collection.payloads.length - events.length) };
    },
  };
}
