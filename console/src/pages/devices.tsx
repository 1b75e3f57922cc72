// Devices: search by id or name prefix, filter by label and online state, page
// through any number of devices (the server pages; nothing is loaded in full).
import { useQuery } from "@connectrpc/connect-query";
import { useEffect, useState } from "react";
import { Link, useLocation, useSearch } from "wouter";
import { DeviceService, OnlineFilter } from "../api.js";
import { Empty, ErrorNote, Loading, Page, Pager, Time, usePaging } from "../ui.js";

const pageSize = 50;
const onlineNames: Record<string, OnlineFilter> = { online: OnlineFilter.ONLINE, offline: OnlineFilter.OFFLINE };

export function Devices() {
  const params = new URLSearchParams(useSearch());
  const [, navigate] = useLocation();
  const query = params.get("q") ?? "";
  const label = params.get("label") ?? "";
  const online = params.get("online") ?? "";
  const filterKey = `${query}\u0000${label}\u0000${online}`;
  const paging = usePaging(filterKey);

  // The search box edits a draft; the URL (and so the query) follows after a short pause.
  const [draft, setDraft] = useState({ query, label });
  useEffect(() => setDraft({ query, label }), [query, label]);
  const apply = (next: { q?: string; label?: string; online?: string }) => {
    const merged = new URLSearchParams({ q: query, label, online, ...next });
    for (const [k, v] of [...merged.entries()]) if (v === "") merged.delete(k);
    const search = merged.toString();
    navigate(search === "" ? "/devices" : `/devices?${search}`, { replace: true });
  };
  useEffect(() => {
    if (draft.query === query && draft.label === label) return;
    const timer = window.setTimeout(() => apply({ q: draft.query.trim(), label: draft.label.trim() }), 300);
    return () => window.clearTimeout(timer);
  });

  const list = useQuery(
    DeviceService.method.listDevices,
    { query, label, online: onlineNames[online] ?? OnlineFilter.UNSPECIFIED, pageSize, pageToken: paging.token },
    { refetchInterval: 30_000, placeholderData: (previous) => previous },
  );
  const devices = list.data?.devices ?? [];
  const filtered = query !== "" || label !== "" || online !== "";

  return (
    <Page title="Devices">
      <form className="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          Search
          <input type="search" placeholder="device id or name, from the start" value={draft.query} onChange={(e) => setDraft({ ...draft, query: e.target.value })} />
        </label>
        <label>
          Label
          <input type="search" placeholder="e.g. site:berlin" value={draft.label} onChange={(e) => setDraft({ ...draft, label: e.target.value })} />
        </label>
        <label>
          State
          <select value={online} onChange={(e) => apply({ online: e.target.value })}>
            <option value="">all</option>
            <option value="online">online</option>
            <option value="offline">offline</option>
          </select>
        </label>
      </form>
      <ErrorNote error={list.error} what="Devices" />
      {list.data === undefined ? (
        list.isPending ? <Loading what="Loading devices" /> : null
      ) : devices.length === 0 ? (
        filtered ? (
          <Empty>No device matches these filters. Search matches the start of a device id or name; labels must match exactly.</Empty>
        ) : (
          <Empty>No device has registered yet. Devices appear when an agent calls /online (see the README's agent section).</Empty>
        )
      ) : (
        <>
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Device id</th>
                  <th scope="col">State</th>
                  <th scope="col">Last seen</th>
                  <th scope="col">OS</th>
                  <th scope="col">IP</th>
                  <th scope="col">Labels</th>
                </tr>
              </thead>
              <tbody>
                {devices.map((d) => (
                  <tr key={d.deviceId}>
                    <td>
                      <Link href={`/devices/${encodeURIComponent(d.deviceId)}`}>{d.devicename || "(no name)"}</Link>
                    </td>
                    <td className="mono">{d.deviceId}</td>
                    <td>
                      <span className={d.online ? "badge ok" : "badge"}>{d.online ? "online" : "offline"}</span>
                    </td>
                    <td>
                      <Time value={d.lastSeen} />
                    </td>
                    <td>{d.os}</td>
                    <td className="mono">{d.ip}</td>
                    <td>
                      {d.labels.map((l) => (
                        <button type="button" key={l} className="chip" title={`Show devices labelled ${l}`} onClick={() => apply({ label: l })}>
                          {l}
                        </button>
                      ))}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pager paging={paging} nextToken={list.data.nextPageToken} label="Devices" />
        </>
      )}
    </Page>
  );
}
