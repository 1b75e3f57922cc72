// Events: browse stored tracking events, follow new ones live, and export a
// filtered range as a file, each with the same filters (client, event name, …).
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { useQuery, useTransport } from "@connectrpc/connect-query";
import { useEffect, useMemo, useState } from "react";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { describeError, EventFilterSchema, EventService, ExportFormat, isSignedOut, type Event } from "../api.js";
import { formatAbsolute, formatCount, formatShort } from "../format.js";
import { useSession } from "../session.js";
import { download, Empty, ErrorNote, Loading, Page, Pager, Time, usePaging } from "../ui.js";

interface Filters {
  clientId: string;
  event: string;
  deviceId: string;
  session: string;
  from: string;
  to: string;
}

type FilterInit = MessageInitShape<typeof EventFilterSchema>;

const none: Filters = { clientId: "", event: "", deviceId: "", session: "", from: "", to: "" };
const liveLimit = 300;

function toFilter(f: Filters): FilterInit {
  return {
    clientId: f.clientId.trim(),
    event: f.event.trim(),
    deviceId: f.deviceId.trim(),
    session: f.session.trim(),
    ...(f.from !== "" ? { from: timestampFromDate(new Date(f.from)) } : {}),
    ...(f.to !== "" ? { to: timestampFromDate(new Date(f.to)) } : {}),
  };
}

/** The event's own time: `at` as the client sent it (milliseconds, or seconds from older clients). */
function eventTime(at: bigint): Date | undefined {
  const n = Number(at);
  if (n <= 0) return undefined;
  return new Date(n > 1e12 ? n : n * 1000);
}

export function Events() {
  const [draft, setDraft] = useState<Filters>(none);
  const [filters, setFilters] = useState<Filters>(none);
  const [live, setLive] = useState(false);
  const filter = useMemo(() => toFilter(filters), [filters]);
  return (
    <Page title="Events">
      <form
        className="filters"
        role="search"
        onSubmit={(event) => {
          event.preventDefault();
          setFilters(draft);
        }}
      >
        {(
          [
            ["clientId", "Client id", "text", "e.g. com.example.app"],
            ["event", "Event name", "text", "exact name, e.g. App.Crash"],
            ["deviceId", "Device id", "text", ""],
            ["session", "Session", "text", ""],
            ["from", "From (event time)", "datetime-local", ""],
            ["to", "To", "datetime-local", ""],
          ] as const
        ).map(([key, label, type, placeholder]) => (
          <label key={key}>
            {label}
            <input type={type} value={draft[key]} placeholder={placeholder} onChange={(e) => setDraft({ ...draft, [key]: e.target.value })} />
          </label>
        ))}
        <div className="row">
          <button type="submit" className="primary">
            Apply
          </button>
          <button
            type="button"
            onClick={() => {
              setDraft(none);
              setFilters(none);
            }}
          >
            Clear
          </button>
        </div>
      </form>
      <div className="row">
        <label className="switch">
          <input type="checkbox" checked={live} onChange={(e) => setLive(e.target.checked)} /> Follow new events live
        </label>
        <Export filter={filter} />
      </div>
      {live ? <Follow filter={filter} /> : <Browse filter={filter} filterKey={JSON.stringify(filters)} />}
    </Page>
  );
}

function Browse({ filter, filterKey }: { filter: FilterInit; filterKey: string }) {
  const paging = usePaging(filterKey);
  const list = useQuery(EventService.method.listEvents, { filter, pageSize: 100, pageToken: paging.token }, { placeholderData: (p) => p });
  const events = list.data?.events ?? [];
  return (
    <>
      <ErrorNote error={list.error} what="Events" />
      {list.data === undefined ? (
        list.isPending ? <Loading /> : null
      ) : events.length === 0 ? (
        <Empty>No stored event matches. Events arrive from apps through the tracking collector (POST /api/v1/track); check the filters, or follow live.</Empty>
      ) : (
        <>
          <EventTable events={events} />
          <Pager paging={paging} nextToken={list.data.nextPageToken} label="Events" />
        </>
      )}
    </>
  );
}

function Follow({ filter }: { filter: FilterInit }) {
  const transport = useTransport();
  const session = useSession();
  const [events, setEvents] = useState<Event[]>([]);
  const [received, setReceived] = useState(0);
  const [status, setStatus] = useState<{ kind: "connecting" | "live" | "retrying"; message?: string }>({ kind: "connecting" });
  useEffect(() => {
    const abort = new AbortController();
    const client = createClient(EventService, transport);
    setEvents([]);
    setReceived(0);
    // Reconnects after a broken stream, waiting a little longer each time (at most 30 s).
    void (async () => {
      let wait = 1_000;
      while (!abort.signal.aborted) {
        try {
          setStatus({ kind: "connecting" });
          for await (const response of client.followEvents({ filter }, { signal: abort.signal })) {
            wait = 1_000;
            setStatus({ kind: "live" });
            const event = response.event;
            if (event === undefined) continue;
            setReceived((n) => n + 1);
            setEvents((list) => [event, ...list].slice(0, liveLimit));
          }
        } catch (error) {
          if (abort.signal.aborted) return;
          if (isSignedOut(error)) {
            session.signOut("This API key is unknown or was revoked. Sign in with a valid key.");
            return;
          }
          setStatus({ kind: "retrying", message: describeError(error) });
        }
        await new Promise((resolve) => window.setTimeout(resolve, wait));
        wait = Math.min(wait * 2, 30_000);
      }
    })();
    return () => abort.abort();
  }, [transport, filter, session]);
  return (
    <>
      <p role="status" className={status.kind === "retrying" ? "error" : "muted"}>
        {status.kind === "live"
          ? `Following: ${formatCount(received)} new event${received === 1 ? "" : "s"} since opening (the newest ${liveLimit} are shown).`
          : status.kind === "connecting"
            ? "Connecting…"
            : `The stream broke (${status.message ?? ""}); reconnecting.`}
      </p>
      {events.length === 0 ? <Empty>Waiting for new events that match the filters.</Empty> : <EventTable events={events} />}
    </>
  );
}

function Export({ filter }: { filter: FilterInit }) {
  const transport = useTransport();
  const [format, setFormat] = useState<ExportFormat>(ExportFormat.CSV);
  const [state, setState] = useState<{ kind: "idle" } | { kind: "running"; events: number; abort: AbortController } | { kind: "done"; events: number } | { kind: "failed"; error: unknown }>({ kind: "idle" });
  const start = async () => {
    const abort = new AbortController();
    setState({ kind: "running", events: 0, abort });
    const chunks: Uint8Array<ArrayBuffer>[] = [];
    let count = 0;
    try {
      const client = createClient(EventService, transport);
      for await (const response of client.exportEvents({ filter, format }, { signal: abort.signal })) {
        chunks.push(new Uint8Array(response.chunk));
        count += response.events;
        setState({ kind: "running", events: count, abort });
      }
      const csv = format === ExportFormat.CSV;
      download(`fleetbeat-events-${new Date().toISOString().replace(/[:.]/g, "-")}.${csv ? "csv" : "ndjson"}`, chunks, csv ? "text/csv" : "application/x-ndjson");
      setState({ kind: "done", events: count });
    } catch (error) {
      setState(abort.signal.aborted ? { kind: "idle" } : { kind: "failed", error });
    }
  };
  return (
    <div className="row">
      <label>
        Export as{" "}
        <select value={format} onChange={(e) => setFormat(Number(e.target.value) as ExportFormat)}>
          <option value={ExportFormat.CSV}>CSV (collector columns)</option>
          <option value={ExportFormat.NDJSON}>NDJSON</option>
        </select>
      </label>
      {state.kind === "running" ? (
        <button type="button" onClick={() => state.abort.abort()}>
          Stop export ({formatCount(state.events)} events)
        </button>
      ) : (
        <button type="button" onClick={() => void start()}>
          Export filtered events
        </button>
      )}
      {state.kind === "done" ? <span role="status">Exported {formatCount(state.events)} events.</span> : null}
      {state.kind === "failed" ? <ErrorNote error={state.error} what="Export" /> : null}
    </div>
  );
}

function EventTable({ events }: { events: Event[] }) {
  return (
    <div className="table-wrap">
      <table>
        <thead>
          <tr>
            <th scope="col">Received</th>
            <th scope="col">Event time</th>
            <th scope="col">Event</th>
            <th scope="col">Client</th>
            <th scope="col">Device</th>
            <th scope="col">Session · nr</th>
            <th scope="col">Version</th>
            <th scope="col">Parameters</th>
          </tr>
        </thead>
        <tbody>
          {events.map((e) => {
            const at = eventTime(e.at);
            return (
              <tr key={`${e.session}\u0000${e.nr}`}>
                <td>
                  <Time value={e.receivedAt} />
                </td>
                <td>{at === undefined ? "–" : <span title={formatAbsolute(at)}>{formatShort(at)}</span>}</td>
                <td>{e.event}</td>
                <td>{e.clientId}</td>
                <td className="mono clip" title={e.deviceId}>
                  {e.deviceId}
                </td>
                <td className="mono clip" title={e.session}>
                  {e.session.slice(0, 8)} · {e.nr}
                </td>
                <td>{e.productVersion}</td>
                <td className="mono clip" title={e.parameters}>
                  {e.parameters}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
