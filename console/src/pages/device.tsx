// One device: its details, labels (editable), its commands with their results,
// and a form to queue a command whose state is then followed live.
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { useMutation, useQuery } from "@connectrpc/connect-query";
import { useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useLocation } from "wouter";
import { CommandService, DeviceService, type Command } from "../api.js";
import { toDate } from "../format.js";
import { commandStateName, isPending, stateTone } from "../names.js";
import { ConfirmDialog, Empty, ErrorNote, Loading, Page, Time, WriteOnly } from "../ui.js";

const ttlChoices: [string, number][] = [
  ["10 minutes", 10 * 60_000],
  ["1 hour", 3_600_000],
  ["1 day", 86_400_000],
  ["7 days", 7 * 86_400_000],
];

export function Device({ deviceId }: { deviceId: string }) {
  const queryClient = useQueryClient();
  const [, navigate] = useLocation();
  const device = useQuery(DeviceService.method.getDevice, { deviceId, commandLimit: 50 }, {
    // Followed closely while a command queued in the last few minutes is on its way
    // (one queued to an offline device may wait for days), calmly otherwise.
    refetchInterval: (query) =>
      (query.state.data?.commands ?? []).some((c) => isPending(c.state) && Date.now() - (toDate(c.createdAt)?.getTime() ?? 0) < 5 * 60_000) ? 1_000 : 10_000,
  });
  const refresh = () => queryClient.invalidateQueries();
  const [confirmDelete, setConfirmDelete] = useState(false);
  const remove = useMutation(DeviceService.method.deleteDevice, {
    onSuccess: () => {
      void refresh();
      navigate("/devices");
    },
  });

  const d = device.data?.device;
  if (device.isPending) return <Loading what="Loading the device" />;
  if (d === undefined) {
    return (
      <Page title="Device">
        <ErrorNote error={device.error} what={`Device ${deviceId}`} />
        <p>
          <Link href="/devices">Back to the devices</Link>
        </p>
      </Page>
    );
  }
  return (
    <Page
      title={d.devicename || d.deviceId}
      actions={
        <WriteOnly>
          <button type="button" className="danger" onClick={() => setConfirmDelete(true)}>
            Delete device
          </button>
        </WriteOnly>
      }
    >
      <ErrorNote error={device.error} what="Refreshing" />
      <dl className="facts">
        <dt>Device id</dt>
        <dd className="mono">{d.deviceId}</dd>
        <dt>State</dt>
        <dd>
          <span className={d.online ? "badge ok" : "badge"}>{d.online ? "online" : "offline"}</span>
        </dd>
        <dt>Last seen</dt>
        <dd>
          <Time value={d.lastSeen} />
        </dd>
        <dt>Registered</dt>
        <dd>
          <Time value={d.registeredAt} />
        </dd>
        <dt>Details updated</dt>
        <dd>
          <Time value={d.updatedAt} />
        </dd>
        <dt>OS</dt>
        <dd>{d.os || "–"}</dd>
        <dt>IP</dt>
        <dd className="mono">{d.ip || "–"}</dd>
        <dt>MAC address</dt>
        <dd className="mono">{d.macaddress || "–"}</dd>
        <dt>Token expires</dt>
        <dd>
          <Time value={d.tokenExpiresAt} never="–" />
        </dd>
      </dl>

      <Labels deviceId={d.deviceId} labels={d.labels} />

      <WriteOnly>
        <QueueCommand deviceId={d.deviceId} />
      </WriteOnly>

      <h2>Commands</h2>
      <CommandTable commands={device.data?.commands ?? []} />

      <ConfirmDialog
        open={confirmDelete}
        title={`Delete ${d.devicename || d.deviceId}?`}
        action="Delete device"
        busy={remove.isPending}
        onCancel={() => setConfirmDelete(false)}
        onConfirm={() => remove.mutate({ deviceId: d.deviceId })}
      >
        <p>
          This removes the device <code>{d.deviceId}</code>, its labels and its commands. The agent must register again with /online to come back.
        </p>
        <ErrorNote error={remove.error} />
      </ConfirmDialog>
    </Page>
  );
}

function Labels({ deviceId, labels }: { deviceId: string; labels: string[] }) {
  const queryClient = useQueryClient();
  const [draft, setDraft] = useState("");
  const change = useMutation(DeviceService.method.setDeviceLabels, { onSuccess: () => queryClient.invalidateQueries() });
  return (
    <section aria-labelledby="labels-title">
      <h2 id="labels-title">Labels</h2>
      <ul className="chips" aria-label="Labels">
        {labels.length === 0 ? <li className="muted">No labels. Labels group devices for filters and commands (e.g. site:berlin).</li> : null}
        {labels.map((label) => (
          <li key={label} className="chip">
            {label}
            <WriteOnly>
              <button type="button" className="chip-remove" aria-label={`Remove label ${label}`} disabled={change.isPending} onClick={() => change.mutate({ deviceId, remove: [label] })}>
                ×
              </button>
            </WriteOnly>
          </li>
        ))}
      </ul>
      <WriteOnly>
        <form
          className="inline"
          onSubmit={(event) => {
            event.preventDefault();
            const add = draft.split(",").map((l) => l.trim()).filter((l) => l !== "");
            if (add.length === 0) return;
            change.mutate({ deviceId, add }, { onSuccess: () => setDraft("") });
          }}
        >
          <label>
            Add labels
            <input value={draft} onChange={(e) => setDraft(e.target.value)} placeholder="ring:canary, site:berlin" />
          </label>
          <button type="submit" disabled={change.isPending}>
            Add
          </button>
        </form>
      </WriteOnly>
      <ErrorNote error={change.error} what="Labels" />
    </section>
  );
}

function QueueCommand({ deviceId }: { deviceId: string }) {
  const queryClient = useQueryClient();
  const [type, setType] = useState("1");
  const [content, setContent] = useState("");
  const [ttl, setTtl] = useState(String(3_600_000));
  const queue = useMutation(CommandService.method.queueCommand, {
    onSuccess: () => {
      setContent("");
      void queryClient.invalidateQueries();
    },
  });
  const queued = queue.data?.commands[0];
  return (
    <section aria-labelledby="queue-title">
      <h2 id="queue-title">Queue a command</h2>
      <form
        className="stack"
        onSubmit={(event) => {
          event.preventDefault();
          queue.mutate({ target: { target: { case: "deviceId", value: deviceId } }, type: Number(type), content, ttl: durationFromMs(Number(ttl)) });
        }}
      >
        <div className="row">
          <label>
            Type
            <input type="number" inputMode="numeric" min={-2147483648} max={2147483647} required value={type} onChange={(e) => setType(e.target.value)} />
          </label>
          <label>
            Expires after
            <select value={ttl} onChange={(e) => setTtl(e.target.value)}>
              {ttlChoices.map(([name, ms]) => (
                <option key={ms} value={ms}>
                  {name}
                </option>
              ))}
            </select>
          </label>
        </div>
        <label>
          Content
          <textarea rows={3} value={content} onChange={(e) => setContent(e.target.value)} placeholder="what the agent should run or apply" />
        </label>
        <div>
          <button type="submit" className="primary" disabled={queue.isPending}>
            {queue.isPending ? "Queueing…" : "Queue command"}
          </button>
        </div>
      </form>
      <ErrorNote error={queue.error} what="Queueing" />
      {queued !== undefined ? (
        <p role="status">
          Command {String(queued.id)} queued. It is delivered at the device's next check-in; its state below changes on its own.
        </p>
      ) : null}
    </section>
  );
}

export function CommandTable({ commands, showDevice = false }: { commands: Command[]; showDevice?: boolean }) {
  if (commands.length === 0) return <Empty>No commands yet.{showDevice ? "" : " Queue one above (admin keys) or with `fleetbeat commands queue`."}</Empty>;
  return (
    <div className="table-wrap">
      <table>
        <thead>
          <tr>
            <th scope="col">Id</th>
            {showDevice ? <th scope="col">Device</th> : null}
            <th scope="col">Type</th>
            <th scope="col">Content</th>
            <th scope="col">State</th>
            <th scope="col">Result</th>
            <th scope="col">Queued</th>
            <th scope="col">Finished</th>
          </tr>
        </thead>
        <tbody>
          {commands.map((c) => {
            const state = commandStateName(c.state);
            return (
              <tr key={String(c.id)} data-command-id={String(c.id)}>
                <td className="mono">{String(c.id)}</td>
                {showDevice ? (
                  <td>
                    <Link href={`/devices/${encodeURIComponent(c.deviceId)}`}>{c.deviceId}</Link>
                  </td>
                ) : null}
                <td>{c.type}</td>
                <td className="mono clip" title={c.content}>
                  {c.content}
                </td>
                <td>
                  <span className={stateTone(state)}>{state}</span>
                </td>
                <td>
                  {c.finishedAt !== undefined && (state === "succeeded" || state === "failed") ? `exit ${c.returnCode}` : ""}
                  {c.reason ? <span className="muted"> {c.reason}</span> : null}
                </td>
                <td>
                  <Time value={c.createdAt} />
                </td>
                <td>
                  <Time value={c.finishedAt} never="–" />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
