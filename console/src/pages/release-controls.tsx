// Yanked versions and rollbacks on the Releases page: what is in force, and (admin
// keys) yank a version, send installations back from one version to an earlier one,
// or undo either; each answer says how many installations it touches.
import { useMutation, useQuery } from "@connectrpc/connect-query";
import { useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { ReleaseService, type InstallationCounts } from "../api.js";
import { formatCount } from "../format.js";
import { ConfirmDialog, Empty, ErrorNote, Time, WriteOnly } from "../ui.js";

function affected(counts: InstallationCounts | undefined): string {
  if (counts === undefined) return "";
  return `${formatCount(counts.installations)} installations on that version (${formatCount(counts.activeInstallations)} seen in the last 24 hours)`;
}

export function ReleaseControls({ products }: { products: string[] }) {
  const queryClient = useQueryClient();
  const controls = useQuery(ReleaseService.method.listReleaseControls, {}, { refetchInterval: 30_000 });
  const done = () => void queryClient.invalidateQueries();
  const [message, setMessage] = useState<string | undefined>();
  const yank = useMutation(ReleaseService.method.yankVersion, {
    onSuccess: (r) => {
      setMessage(`${r.alreadyYanked ? "Already yanked" : "Yanked"} ${r.yanked?.product} ${r.yanked?.version}: no longer offered; ${affected(r.affected)}.`);
      done();
    },
  });
  const unyank = useMutation(ReleaseService.method.unyankVersion, {
    onSuccess: (r) => {
      setMessage(`${r.unyanked ? "Offered again" : "Was not yanked"}; ${affected(r.affected)}.`);
      done();
    },
  });
  const rollback = useMutation(ReleaseService.method.rollback, {
    onSuccess: (r) => {
      const b = r.rollback;
      setMessage(`Rollback of ${b?.product} ${b?.fromVersion} → ${b?.toVersion} in force${r.replacedToVersion ? ` (it replaced one to ${r.replacedToVersion})` : ""}; ${affected(r.affected)}. They are told at their next heartbeat.`);
      done();
    },
  });
  const cancel = useMutation(ReleaseService.method.cancelRollback, {
    onSuccess: (r) => {
      setMessage(`${r.cancelled ? "Rollback cancelled" : "No such rollback"}; ${affected(r.affected)}.`);
      done();
    },
  });
  const [confirm, setConfirm] = useState<{ kind: "yank" | "rollback"; product: string; from: string; to: string; channel: string } | undefined>();
  const [form, setForm] = useState({ product: products[0] ?? "", from: "", to: "", channel: "" });
  const busy = yank.isPending || rollback.isPending;

  const yanked = controls.data?.yanked ?? [];
  const rollbacks = controls.data?.rollbacks ?? [];
  return (
    <section aria-labelledby="controls-title">
      <h2 id="controls-title">Yanked versions and rollbacks</h2>
      <ErrorNote error={controls.error} what="Release controls" />
      {message !== undefined ? <p role="status">{message}</p> : null}
      {[yank, unyank, rollback, cancel].map((m, i) => (
        <ErrorNote key={i} error={m.error} />
      ))}
      {controls.data === undefined ? null : yanked.length === 0 && rollbacks.length === 0 ? (
        <Empty>No version is yanked and no rollback is in force. Yank a bad version to stop offering it at once; roll back to send installations to an earlier one.</Empty>
      ) : (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Product</th>
                <th scope="col">What</th>
                <th scope="col">Channel</th>
                <th scope="col">Since</th>
                <th scope="col">By</th>
                <WriteOnly>
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </WriteOnly>
              </tr>
            </thead>
            <tbody>
              {yanked.map((y) => (
                <tr key={`y\u0000${y.product}\u0000${y.version}`}>
                  <td>{y.product}</td>
                  <td>
                    <span className="badge bad">yanked</span> <span className="mono">{y.version}</span>
                  </td>
                  <td>all</td>
                  <td>
                    <Time value={y.yankedAt} />
                  </td>
                  <td>{y.actor?.name || "–"}</td>
                  <WriteOnly>
                    <td>
                      <button type="button" disabled={unyank.isPending} onClick={() => unyank.mutate({ product: y.product, version: y.version })}>
                        Offer again
                      </button>
                    </td>
                  </WriteOnly>
                </tr>
              ))}
              {rollbacks.map((b) => (
                <tr key={`r\u0000${b.product}\u0000${b.fromVersion}\u0000${b.channel}`}>
                  <td>{b.product}</td>
                  <td>
                    <span className="badge busy">rollback</span>{" "}
                    <span className="mono">
                      {b.fromVersion} → {b.toVersion}
                    </span>
                  </td>
                  <td>{b.channel || "all"}</td>
                  <td>
                    <Time value={b.createdAt} />
                  </td>
                  <td>{b.actor?.name || "–"}</td>
                  <WriteOnly>
                    <td>
                      <button type="button" disabled={cancel.isPending} onClick={() => cancel.mutate({ product: b.product, fromVersion: b.fromVersion, channel: b.channel })}>
                        Cancel rollback
                      </button>
                    </td>
                  </WriteOnly>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <WriteOnly>
        <form className="filters" aria-label="Yank or roll back" onSubmit={(e) => e.preventDefault()}>
          <label>
            Product
            <input required list="release-products" value={form.product} onChange={(e) => setForm({ ...form, product: e.target.value })} />
          </label>
          <datalist id="release-products">
            {products.map((p) => (
              <option key={p} value={p} />
            ))}
          </datalist>
          <label>
            Version (yank) or from (rollback)
            <input required value={form.from} onChange={(e) => setForm({ ...form, from: e.target.value })} placeholder="1.2.0" />
          </label>
          <label>
            Roll back to
            <input value={form.to} onChange={(e) => setForm({ ...form, to: e.target.value })} placeholder="1.0.0" />
          </label>
          <label>
            Channel (rollback)
            <input value={form.channel} onChange={(e) => setForm({ ...form, channel: e.target.value })} placeholder="all channels" />
          </label>
          <button type="button" className="danger" disabled={busy || form.product.trim() === "" || form.from.trim() === ""} onClick={() => setConfirm({ kind: "yank", product: form.product.trim(), from: form.from.trim(), to: "", channel: "" })}>
            Yank version
          </button>
          <button
            type="button"
            className="danger"
            disabled={busy || form.product.trim() === "" || form.from.trim() === "" || form.to.trim() === ""}
            onClick={() => setConfirm({ kind: "rollback", product: form.product.trim(), from: form.from.trim(), to: form.to.trim(), channel: form.channel.trim() })}
          >
            Roll back
          </button>
        </form>
      </WriteOnly>
      <ConfirmDialog
        open={confirm !== undefined}
        title={confirm?.kind === "yank" ? `Yank ${confirm.product} ${confirm.from}?` : `Roll back ${confirm?.product ?? ""} ${confirm?.from ?? ""} → ${confirm?.to ?? ""}?`}
        action={confirm?.kind === "yank" ? "Yank" : "Roll back"}
        busy={busy}
        onCancel={() => setConfirm(undefined)}
        onConfirm={() => {
          if (confirm === undefined) return;
          if (confirm.kind === "yank") yank.mutate({ product: confirm.product, version: confirm.from });
          else rollback.mutate({ product: confirm.product, fromVersion: confirm.from, toVersion: confirm.to, channel: confirm.channel });
          setConfirm(undefined);
        }}
      >
        {confirm?.kind === "yank" ? (
          <p>No installation is offered {confirm.from} from now on; where it is the release, the previous version is offered instead. Installations already on it stay there.</p>
        ) : (
          <p>
            Every installation on {confirm?.from} {confirm?.channel ? `in channel ${confirm.channel}` : "in every channel"} is told at its next heartbeat to install {confirm?.to}, marked as a downgrade.
          </p>
        )}
      </ConfirmDialog>
    </section>
  );
}
