// EventService: the operator's view of tracked events (SPEC §4).
// - ListEvents: filters by device, session, event name, client and `at` range,
//   in arrival order, paged by an opaque token (the last row id).
// - ExportEvents: every matching event as NDJSON or the collector's CSV
//   (event-export.ts), streamed in chunks read page by page through the same
//   cursor, so memory stays flat whatever the export's size.
// - FollowEvents belongs to the live-follow issue and answers Unimplemented here.
import type { ServiceImpl } from "@connectrpc/connect";
import { ExportFormat, type EventFilter, type EventService } from "../../gen/fleetbeat/operator/v1/events_pb.js";
import type { ServiceDeps } from "../core/deps.js";
import { FleetbeatError } from "../core/errors.js";
import type { TrackEventFilter } from "../store/track.js";
import { csvLine, eventMessageOf, ndjsonLine } from "./event-export.js";

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1_000;
/** Events per store read (and per chunk) during an export. */
export const EXPORT_PAGE = 1_000;

/** Timestamp → epoch seconds, rounded up: `at` is whole seconds, so at ≥ 10.5 s means at ≥ 11 s, and at < 10.5 s means at < 11 s. */
function secondsCeil(timestamp: { seconds: bigint; nanos: number }): number {
  const seconds = Number(timestamp.seconds) + (timestamp.nanos > 0 ? 1 : 0);
  if (!Number.isSafeInteger(seconds)) throw new FleetbeatError("BAD_REQUEST", "filter time out of range");
  return seconds;
}

export function storeFilterOf(filter: EventFilter | undefined): TrackEventFilter {
  const result: TrackEventFilter = {};
  if (!filter) return result;
  if (filter.deviceId !== "") result.deviceId = filter.deviceId;
  if (filter.session !== "") result.session = filter.session;
  if (filter.event !== "") result.event = filter.event;
  if (filter.clientId !== "") result.clientId = filter.clientId;
  if (filter.from) result.fromAt = secondsCeil(filter.from);
  if (filter.to) result.toAt = secondsCeil(filter.to);
  return result;
}

const TOKEN_PREFIX = "ev1:";

export function pageTokenOf(id: number): string {
  return Buffer.from(`${TOKEN_PREFIX}${id}`, "utf8").toString("base64url");
}

export function afterIdOf(token: string): number {
  if (token === "") return 0;
  const text = Buffer.from(token, "base64url").toString("utf8");
  const id = text.startsWith(TOKEN_PREFIX) ? Number(text.slice(TOKEN_PREFIX.length)) : Number.NaN;
  if (!Number.isSafeInteger(id) || id < 0) throw new FleetbeatError("BAD_REQUEST", "invalid page_token");
  return id;
}

export function createEventService(deps: Pick<ServiceDeps, "store">): Partial<ServiceImpl<typeof EventService>> {
  const track = deps.store.track;
  return {
    async listEvents(request) {
      const filter = storeFilterOf(request.filter);
      const pageSize = request.pageSize === 0 ? DEFAULT_PAGE_SIZE : Math.min(request.pageSize, MAX_PAGE_SIZE);
      const rows = await track.listEvents(filter, afterIdOf(request.pageToken), pageSize + 1);
      const page = rows.slice(0, pageSize);
      const last = page[page.length - 1];
      return {
        events: page.map(eventMessageOf),
        nextPageToken: rows.length > pageSize && last ? pageTokenOf(last.id) : "",
      };
    },

    async *exportEvents(request, context) {
      const filter = storeFilterOf(request.filter);
      const format = request.format === ExportFormat.UNSPECIFIED ? ExportFormat.NDJSON : request.format;
      if (format !== ExportFormat.NDJSON && format !== ExportFormat.CSV) throw new FleetbeatError("BAD_REQUEST", `unknown export format ${format}`);
      const line = format === ExportFormat.CSV ? csvLine : ndjsonLine;
      let afterId = 0;
      for (;;) {
        if (context.signal.aborted) return;
        const rows = await track.listEvents(filter, afterId, EXPORT_PAGE);
        if (rows.length === 0) return;
        let text = "";
        for (const row of rows) text += line(row);
        yield { chunk: Buffer.from(text, "utf8"), events: rows.length };
        afterId = rows[rows.length - 1]!.id;
        if (rows.length < EXPORT_PAGE) return;
      }
    },
  };
}
