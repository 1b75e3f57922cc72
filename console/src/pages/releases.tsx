// Releases: per product and channel the release offered and its rollout; the
// installations by version over the last 90 days; set, change and delete releases.
import { useMutation, useQuery } from "@connectrpc/connect-query";
import { useQueryClient } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import { CensusService, ReleaseAuditActorKind, ReleaseService, type CensusDay, type Release, type ReleaseAuditEntry } from "../api.js";
import { Chart } from "../chart.js";
import { Bars } from "./overview.js";
import { ReleaseControls } from "./release-controls.js";
import { ConfirmDialog, Empty, ErrorNote, Loading, Page, Pager, Time, usePaging, WriteOnly } from "../ui.js";

const chartVersions = 8;

export function Releases() {
  const queryClient = useQueryClient();
  const releases = useQuery(ReleaseService.method.listReleases, {}, { refetchInterval: 30_000 });
  const products = useMemo(() => [...new Set((releases.data?.releases ?? []).map((r) => r.product))].sort(), [releases.data]);
  const [chosen, setChosen] = useState<string | undefined>();
  const product = chosen ?? products[0] ?? "";
  const [editing, setEditing] = useState<Partial<Release> | undefined>();
  const [deleting, setDeleting] = useState<Release | undefined>();
  const remove = useMutation(ReleaseService.method.deleteRelease, {
    onSuccess: () => {
      setDeleting(undefined);
      void queryClient.invalidateQueries();
    },
  });

  const list = releases.data?.releases ?? [];
  return (
    <Page
      title="Releases"
      actions={
        <WriteOnly>
          <button type="button" className="primary" onClick={() => setEditing({ product, channel: "", version: "", rolloutPercent: 100 })}>
            New release
          </button>
        </WriteOnly>
      }
    >
      <ErrorNote error={releases.error} what="Releases" />
      {editing !== undefined ? <ReleaseForm initial={editing} onDone={() => setEditing(undefined)} /> : null}
      {releases.data === undefined ? (
        releases.isPending ? <Loading /> : null
      ) : list.length === 0 ? (
        <Empty>No release is set. Installations asking /hb/newHb are told they are up to date until a release is set here or with `fleetbeat releases set`.</Empty>
      ) : (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Product</th>
                <th scope="col">Channel</th>
                <th scope="col">Version</th>
                <th scope="col">Rollout</th>
                <th scope="col">Previous</th>
                <th scope="col">Updated</th>
                <WriteOnly>
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </WriteOnly>
              </tr>
            </thead>
            <tbody>
              {list.map((r) => (
                <tr key={`${r.product}\u0000${r.channel}`}>
                  <td>{r.product}</td>
                  <td>{r.channel || "(default)"}</td>
                  <td className="mono">{r.version}</td>
                  <td>
                    <meter min={0} max={100} value={r.rolloutPercent} aria-label={`rollout ${r.rolloutPercent} %`} /> {r.rolloutPercent} %
                  </td>
                  <td className="mono">{r.previousVersion || "–"}</td>
                  <td>
                    <Time value={r.updatedAt} />
                  </td>
                  <WriteOnly>
                    <td className="nowrap">
                      <button type="button" onClick={() => setEditing(r)}>
                        Change
                      </button>{" "}
                      <button type="button" className="danger" onClick={() => setDeleting(r)}>
                        Delete
                      </button>
                    </td>
                  </WriteOnly>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      <section aria-labelledby="census-title">
        <div className="section-head">
          <h2 id="census-title">Installations by version</h2>
          {products.length > 1 ? (
            <label>
              Product{" "}
              <select value={product} onChange={(e) => setChosen(e.target.value)}>
                {products.map((p) => (
                  <option key={p}>{p}</option>
                ))}
              </select>
            </label>
          ) : null}
        </div>
        <Census product={product} />
      </section>

      <ReleaseControls products={products} />

      <History />

      <ConfirmDialog
        open={deleting !== undefined}
        title={`Delete the release of ${deleting?.product ?? ""} on ${deleting?.channel || "the default channel"}?`}
        action="Delete release"
        busy={remove.isPending}
        onCancel={() => setDeleting(undefined)}
        onConfirm={() => deleting && remove.mutate({ product: deleting.product, channel: deleting.channel })}
      >
        <p>Installations of this product and channel are then told they are up to date ({deleting?.version} is no longer offered).</p>
        <ErrorNote error={remove.error} />
      </ConfirmDialog>
    </Page>
  );
}

function ReleaseForm({ initial, onDone }: { initial: Partial<Release>; onDone: () => void }) {
  const queryClient = useQueryClient();
  const [product, setProduct] = useState(initial.product ?? "");
  const [channel, setChannel] = useState(initial.channel ?? "");
  const [version, setVersion] = useState(initial.version ?? "");
  const [rollout, setRollout] = useState(String(initial.rolloutPercent ?? 100));
  const set = useMutation(ReleaseService.method.setRelease, {
    onSuccess: () => {
      void queryClient.invalidateQueries();
      onDone();
    },
  });
  const existing = initial.version !== undefined && initial.version !== "";
  return (
    <form
      className="panel stack"
      aria-label={existing ? "Change release" : "New release"}
      onSubmit={(event) => {
        event.preventDefault();
        set.mutate({ product: product.trim(), channel: channel.trim(), version: version.trim(), rolloutPercent: Number(rollout) });
      }}
    >
      <div className="row">
        <label>
          Product
          <input required value={product} onChange={(e) => setProduct(e.target.value)} readOnly={existing} />
        </label>
        <label>
          Channel
          <input value={channel} onChange={(e) => setChannel(e.target.value)} readOnly={existing} placeholder="(default)" />
        </label>
        <label>
          Version
          <input required value={version} onChange={(e) => setVersion(e.target.value)} placeholder="2.4.0" />
        </label>
        <label>
          Rollout (%)
          <input type="number" min={0} max={100} required value={rollout} onChange={(e) => setRollout(e.target.value)} />
        </label>
      </div>
      <p className="muted small">A rollout below 100 % offers the version to that share of installations, chosen by installation id so each keeps its answer as the share grows.</p>
      <ErrorNote error={set.error} what="Saving the release" />
      <div className="dialog-actions">
        <button type="button" onClick={onDone}>
          Cancel
        </button>
        <button type="submit" className="primary" disabled={set.isPending}>
          {set.isPending ? "Saving…" : "Save release"}
        </button>
      </div>
    </form>
  );
}

/** Stacked daily installations per version: the most common versions, the rest as "other". */
export function versionSeries(days: CensusDay[], top = chartVersions) {
  const totals = new Map<string, number>();
  for (const day of days) for (const b of day.byVersion) totals.set(b.key, (totals.get(b.key) ?? 0) + Number(b.installations));
  const kept = [...totals.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, top).map(([k]) => k);
  const times = days.map((d) => Date.parse(`${d.date}T00:00:00Z`) / 1000);
  const series = kept.map((version) => ({ label: version || "(none)", values: days.map((d) => Number(d.byVersion.find((b) => b.key === version)?.installations ?? 0n)) }));
  if (totals.size > kept.length) {
    series.push({
      label: "other",
      values: days.map((d) => d.byVersion.filter((b) => !kept.includes(b.key)).reduce((sum, b) => sum + Number(b.installations), 0)),
    });
  }
  return { times, series };
}

function Census({ product }: { product: string }) {
  const series = useQuery(CensusService.method.getCensusSeries, { days: 90, product }, { refetchInterval: 300_000 });
  const now = useQuery(CensusService.method.getCensus, { product }, { refetchInterval: 60_000 });
  const chart = useMemo(() => versionSeries(series.data?.days ?? []), [series.data]);
  const hasData = chart.series.some((s) => s.values.some((v) => v > 0));
  return (
    <>
      <ErrorNote error={series.error} what="Census series" />
      {series.data === undefined ? (
        series.isPending ? <Loading /> : null
      ) : !hasData ? (
        <Empty>No installation{product ? ` of ${product}` : ""} has sent an update heartbeat in the last 90 days.</Empty>
      ) : (
        <Chart times={chart.times} series={chart.series} stacked daily height={260} label={`Installations${product ? ` of ${product}` : ""} by version, per day, over the last 90 days`} />
      )}
      <ErrorNote error={now.error} what="Census" />
      {now.data !== undefined && now.data.installations > 0n ? (
        <div className="columns">
          <div>
            <h3>Versions now</h3>
            <Bars rows={now.data.byVersion.map((b) => ({ key: b.key || "(none)", value: b.installations }))} total={now.data.installations} />
          </div>
          <div>
            <h3>Operating systems</h3>
            <Bars rows={now.data.byOs.map((b) => ({ key: b.key || "(none)", value: b.installations }))} total={now.data.installations} />
          </div>
        </div>
      ) : null}
    </>
  );
}

function describeRelease(release: Release | undefined): string {
  return release === undefined ? "none" : `${release.version} at ${release.rolloutPercent} %`;
}

/** A yank's or rollback's detail (versions, channel) as "fromVersion 4.3.0, toVersion 4.2.0". */
function describeDetail(json: string): string {
  try {
    const detail = JSON.parse(json) as Record<string, unknown>;
    return Object.entries(detail)
      .filter(([, value]) => value !== "" && value !== null && value !== undefined)
      .map(([key, value]) => `${key.replace(/([A-Z])/g, " $1").toLowerCase()} ${typeof value === "object" ? JSON.stringify(value) : String(value)}`)
      .join(", ");
  } catch {
    return json;
  }
}

function describeActor(entry: ReleaseAuditEntry): string {
  const actor = entry.actor;
  if (actor === undefined) return "–";
  switch (actor.kind) {
    case ReleaseAuditActorKind.OPERATOR:
      return actor.name || actor.keyId || "an operator";
    case ReleaseAuditActorKind.GATE:
      return "health gate";
    case ReleaseAuditActorKind.SYSTEM:
      return actor.name || "the server";
    default:
      return actor.name || "–";
  }
}

/** Who changed which release when, newest first (ReleaseService.ListReleaseAudit). */
function History() {
  const paging = usePaging("");
  const audit = useQuery(ReleaseService.method.listReleaseAudit, { pageSize: 20, pageToken: paging.token }, { refetchInterval: 30_000, placeholderData: (p) => p });
  const entries = audit.data?.entries ?? [];
  return (
    <section aria-labelledby="history-title">
      <h2 id="history-title">History</h2>
      <ErrorNote error={audit.error} what="Release history" />
      {audit.data === undefined ? null : entries.length === 0 ? (
        <Empty>No release has been changed yet. Every change (by the console, the CLI or the API) is listed here with who made it.</Empty>
      ) : (
        <>
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">Product · channel</th>
                  <th scope="col">Change</th>
                  <th scope="col">Before</th>
                  <th scope="col">After</th>
                  <th scope="col">By</th>
                </tr>
              </thead>
              <tbody>
                {entries.map((e) => (
                  <tr key={String(e.id)}>
                    <td>
                      <Time value={e.at} />
                    </td>
                    <td>
                      {e.product} · {e.channel || (e.action === "set" || e.action === "delete" ? "(default)" : "all channels")}
                    </td>
                    <td>{e.action}</td>
                    {e.before === undefined && e.after === undefined && e.detailJson !== "" ? (
                      <td className="mono" colSpan={2}>
                        {describeDetail(e.detailJson)}
                      </td>
                    ) : (
                      <>
                        <td className="mono">{describeRelease(e.before)}</td>
                        <td className="mono">{describeRelease(e.after)}</td>
                      </>
                    )}
                    <td>{describeActor(e)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pager paging={paging} nextToken={audit.data.nextPageToken} label="History" />
        </>
      )}
    </section>
  );
}
