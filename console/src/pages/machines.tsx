// Machines (update-heartbeat installations): find one by machine id, download all
// that is stored about it, and erase it after a confirmation naming what goes.
import { toJsonString } from "@bufbuild/protobuf";
import { useMutation, useQuery } from "@connectrpc/connect-query";
import { useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { ExportMachineResponseSchema, MachineService } from "../api.js";
import { formatCount } from "../format.js";
import { ConfirmDialog, download, Empty, ErrorNote, Loading, Page, Time, WriteOnly } from "../ui.js";

export function Machines() {
  const queryClient = useQueryClient();
  const [draft, setDraft] = useState("");
  const [machineId, setMachineId] = useState("");
  const [confirm, setConfirm] = useState(false);
  const found = useQuery(MachineService.method.exportMachine, { machineId }, { enabled: machineId !== "" });
  const erase = useMutation(MachineService.method.eraseMachine, {
    onSuccess: () => {
      setConfirm(false);
      void queryClient.invalidateQueries();
    },
  });
  const data = found.data;
  const empty = data !== undefined && data.installations.length === 0 && data.heartbeats.length === 0 && data.daily.length === 0;

  return (
    <Page title="Machines">
      <form
        className="filters"
        role="search"
        onSubmit={(event) => {
          event.preventDefault();
          erase.reset();
          setMachineId(draft.trim());
        }}
      >
        <label>
          Machine id
          <input type="search" required value={draft} onChange={(e) => setDraft(e.target.value)} placeholder="the machine id the app sends in its heartbeat" />
        </label>
        <button type="submit" className="primary">
          Find
        </button>
      </form>
      {machineId === "" ? <Empty>Enter a machine id to see what is stored about it, download it, or erase it (for a data-subject request).</Empty> : null}
      <ErrorNote error={found.error} what="Finding the machine" />
      {erase.data !== undefined ? (
        <p role="status">
          Erased {machineId}: {formatCount(erase.data.installationsDeleted)} installations, {formatCount(erase.data.heartbeatsDeleted)} heartbeats,{" "}
          {formatCount(erase.data.dailyDeleted)} daily records.
        </p>
      ) : null}
      {machineId !== "" && found.isPending ? <Loading /> : null}
      {data !== undefined && empty && erase.data === undefined ? <Empty>Nothing is stored for machine {machineId}.</Empty> : null}
      {data !== undefined && !empty ? (
        <>
          <div className="row">
            <button type="button" onClick={() => download(`fleetbeat-machine-${machineId}.json`, [toJsonString(ExportMachineResponseSchema, data, { prettySpaces: 2 })], "application/json")}>
              Download everything (JSON)
            </button>
            <WriteOnly>
              <button type="button" className="danger" onClick={() => setConfirm(true)}>
                Erase machine
              </button>
            </WriteOnly>
          </div>
          <h2>Installations</h2>
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Product</th>
                  <th scope="col">Channel</th>
                  <th scope="col">Version</th>
                  <th scope="col">OS</th>
                  <th scope="col">Country</th>
                  <th scope="col">First seen</th>
                  <th scope="col">Last seen</th>
                </tr>
              </thead>
              <tbody>
                {data.installations.map((i) => (
                  <tr key={`${i.hbId}\u0000${i.product}`}>
                    <td>{i.product}</td>
                    <td>{i.channel || "(default)"}</td>
                    <td className="mono">{i.version}</td>
                    <td>
                      {i.osType} {i.osVersion}
                    </td>
                    <td>{[i.country, i.region].filter((x) => x).join(" / ") || "–"}</td>
                    <td>
                      <Time value={i.firstSeen} />
                    </td>
                    <td>
                      <Time value={i.lastSeen} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <p className="muted">
            Also stored: {formatCount(data.heartbeats.length)} raw heartbeats and {formatCount(data.daily.length)} daily records.
          </p>
        </>
      ) : null}
      <ConfirmDialog
        open={confirm}
        title={`Erase machine ${machineId}?`}
        action="Erase for good"
        confirmText={machineId}
        busy={erase.isPending}
        onCancel={() => setConfirm(false)}
        onConfirm={() => erase.mutate({ machineId })}
      >
        <p>This deletes, and cannot be undone:</p>
        <ul>
          <li>
            {formatCount(data?.installations.length ?? 0)} installation{data?.installations.length === 1 ? "" : "s"}
            {data !== undefined && data.installations.length > 0 ? ` (${[...new Set(data.installations.map((i) => i.product))].join(", ")})` : ""}
          </li>
          <li>{formatCount(data?.heartbeats.length ?? 0)} raw heartbeats</li>
          <li>{formatCount(data?.daily.length ?? 0)} daily census records</li>
        </ul>
        <p>If the machine sends a heartbeat again, it is counted again as new.</p>
        <ErrorNote error={erase.error} />
      </ConfirmDialog>
    </Page>
  );
}
