// Overview: how many devices are online, offline or never seen; ingest over the
// last hour (refreshed live); versions in the field; the latest failures.
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { useQuery } from "@connectrpc/connect-query";
import { useMemo } from "react";
import { Link } from "wouter";
import { CensusService, CommandService, CommandState, ReleaseService, StatsService } from "../api.js";
import { Chart } from "../chart.js";
import { formatBytes, formatDuration, formatRate } from "../format.js";
import { Empty, ErrorNote, Loading, Num, Page, Time } from "../ui.js";

export function Overview() {
  const stats = useQuery(StatsService.method.getStats, {}, { refetchInterval: 5_000 });
  const series = useQuery(StatsService.method.getStatsSeries, { window: durationFromMs(3_600_000), step: durationFromMs(60_000) }, { refetchInterval: 30_000 });
  const releases = useQuery(ReleaseService.method.listReleases, {}, { refetchInterval: 60_000 });
  const products = useMemo(() => [...new Set((releases.data?.releases ?? []).map((r) => r.product))].sort(), [releases.data]);
  const failures = useQuery(CommandService.method.listCommands, { state: CommandState.FAILED, pageSize: 8 }, { refetchInterval: 15_000 });

  const s = stats.data;
  const offline = s === undefined ? 0n : s.devices - s.devicesOnline - s.devicesNeverSeen;
  const chart = useMemo(() => {
    const points = series.data?.points ?? [];
    const times = points.map((p) => Number(p.start?.seconds ?? 0n));
    const step = 60;
    return {
      times,
      series: [
        { label: "events/s", values: points.map((p) => Number(p.events) / step) },
        { label: "update heartbeats/s", values: points.map((p) => Number(p.heartbeats) / step) },
      ],
    };
  }, [series.data]);

  return (
    <Page title="Overview">
      <ErrorNote error={stats.error} what="Figures" />
      {s === undefined ? (
        stats.isPending ? <Loading /> : null
      ) : (
        <>
          <div className="tiles" aria-label="Devices">
            <Tile label="Devices online" href="/devices?online=online">
              <Num value={s.devicesOnline} compact />
            </Tile>
            <Tile label="Offline" href="/devices?online=offline">
              <Num value={offline < 0n ? 0n : offline} compact />
            </Tile>
            <Tile label="Never seen">
              <Num value={s.devicesNeverSeen} compact />
            </Tile>
            <Tile label="Commands pending" href="/commands">
              <Num value={s.commandsPending} compact />
            </Tile>
            <Tile label="Installations" href="/releases">
              <Num value={s.installations} compact />
            </Tile>
            <Tile label="Events stored" href="/events">
              <Num value={s.events} compact />
            </Tile>
            <Tile label="Events/s (last minute)">{formatRate(s.eventsPerSecond)}</Tile>
            <Tile label="Update heartbeats/s">{formatRate(s.heartbeatsPerSecond)}</Tile>
          </div>
          <p className="muted small">
            Server {s.version}, up {formatDuration(Number(s.uptime?.seconds ?? 0n) * 1000)}, {s.databaseDialect} database of {formatBytes(s.databaseBytes)}.
          </p>
        </>
      )}

      <h2>Ingest over the last hour</h2>
      <ErrorNote error={series.error} what="Ingest series" />
      {series.data === undefined ? series.isPending ? <Loading /> : null : <Chart times={chart.times} series={chart.series} rates label="Events and update heartbeats per second, per minute, over the last hour" />}

      <div className="columns">
        <div>
          <h2>Versions in the field</h2>
          <ErrorNote error={releases.error} what="Products" />
          {/* Per product (versions of different products do not compare); all together when no release names a product yet. */}
          {releases.data === undefined ? null : products.length === 0 ? <Versions product="" /> : products.map((product) => <Versions key={product} product={product} />)}
        </div>
        <div>
          <h2>Latest failures</h2>
          <ErrorNote error={failures.error} what="Failed commands" />
          {failures.data === undefined ? null : failures.data.commands.length === 0 ? (
            <Empty>No command has failed. Failed commands appear here with their device and reason.</Empty>
          ) : (
            <ul className="plain">
              {failures.data.commands.map((c) => (
                <li key={String(c.id)}>
                  Command {String(c.id)} on <Link href={`/devices/${encodeURIComponent(c.deviceId)}`}>{c.deviceId}</Link> returned {c.returnCode}
                  {c.reason ? `: ${c.reason}` : ""} · <Time value={c.finishedAt} />
                </li>
              ))}
            </ul>
          )}
        </div>
      </div>
    </Page>
  );
}

function Versions({ product }: { product: string }) {
  const census = useQuery(CensusService.method.getCensus, { product }, { refetchInterval: 60_000 });
  return (
    <>
      {product !== "" ? <h3>{product}</h3> : null}
      <ErrorNote error={census.error} what="Census" />
      {census.data === undefined ? null : census.data.byVersion.length === 0 ? (
        <Empty>No installation{product ? ` of ${product}` : ""} has sent an update heartbeat lately. Apps report to /hb/newHb.</Empty>
      ) : (
        <Bars rows={census.data.byVersion.map((b) => ({ key: b.key || "(none)", value: b.installations }))} total={census.data.installations} />
      )}
    </>
  );
}

function Tile({ label, href, children }: { label: string; href?: string; children: React.ReactNode }) {
  const body = (
    <>
      <span className="tile-value">{children}</span>
      <span className="tile-label">{label}</span>
    </>
  );
  return href === undefined ? <div className="tile">{body}</div> : <Link className="tile" href={href}>{body}</Link>;
}

/** A horizontal bar per key, its share of `total`. */
export function Bars({ rows, total }: { rows: { key: string; value: bigint }[]; total: bigint }) {
  const max = rows.reduce((m, r) => (r.value > m ? r.value : m), 1n);
  return (
    <table className="bars">
      <tbody>
        {rows.slice(0, 12).map((r) => (
          <tr key={r.key}>
            <th scope="row">{r.key}</th>
            <td className="bar-cell">
              <meter min={0} max={Number(max)} value={Number(r.value)} aria-label={`${r.key}: ${r.value} installations`} />
            </td>
            <td className="num">
              <Num value={r.value} /> <span className="muted">({total > 0n ? Math.round((Number(r.value) * 100) / Number(total)) : 0} %)</span>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
