// Commands and campaigns: their state, targets and progress; cancel what is still pending.
import { useMutation, useQuery } from "@connectrpc/connect-query";
import { useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useSearch } from "wouter";
import { CampaignState, CommandService, CommandState, type Campaign, type CommandTarget } from "../api.js";
import { campaignStateName, campaignStates, commandStateName, commandStates, isPending, stateTone } from "../names.js";
import { ConfirmDialog, Empty, ErrorNote, Loading, Num, Page, Pager, Time, usePaging, WriteOnly } from "../ui.js";

export function Commands() {
  return (
    <Page title="Commands">
      <CommandList />
      <CampaignList />
    </Page>
  );
}

function CommandList() {
  const queryClient = useQueryClient();
  const [state, setState] = useState<CommandState>(CommandState.UNSPECIFIED);
  const [deviceId, setDeviceId] = useState("");
  const campaign = new URLSearchParams(useSearch()).get("campaign") ?? "";
  const campaignId = /^[0-9]{1,18}$/.test(campaign) ? BigInt(campaign) : 0n;
  const paging = usePaging(`${state}\u0000${deviceId}\u0000${campaignId}`);
  const list = useQuery(
    CommandService.method.listCommands,
    { state, deviceId: deviceId.trim(), campaignId, pageSize: 50, pageToken: paging.token },
    { refetchInterval: 5_000, placeholderData: (previous) => previous },
  );
  const [selected, setSelected] = useState<Set<bigint>>(new Set());
  const cancel = useMutation(CommandService.method.cancelCommand, {
    onSuccess: () => {
      setSelected(new Set());
      void queryClient.invalidateQueries();
    },
  });
  const commands = list.data?.commands ?? [];
  const toggle = (id: bigint) =>
    setSelected((s) => {
      const next = new Set(s);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });

  return (
    <section aria-labelledby="commands-title">
      <h2 id="commands-title">Commands</h2>
      {campaignId > 0n ? (
        <p>
          Commands of campaign {String(campaignId)}. <Link href="/commands">Show all commands</Link>
        </p>
      ) : null}
      <form className="filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          State
          <select value={state} onChange={(e) => setState(Number(e.target.value) as CommandState)}>
            <option value={CommandState.UNSPECIFIED}>all</option>
            {commandStates.map(([value, name]) => (
              <option key={value} value={value}>
                {name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Device id
          <input type="search" value={deviceId} onChange={(e) => setDeviceId(e.target.value)} placeholder="exact device id" />
        </label>
        <WriteOnly>
          <button type="button" className="danger" disabled={selected.size === 0 || cancel.isPending} onClick={() => cancel.mutate({ ids: [...selected] })}>
            Cancel selected ({selected.size})
          </button>
        </WriteOnly>
      </form>
      <ErrorNote error={list.error} what="Commands" />
      <ErrorNote error={cancel.error} what="Cancelling" />
      {list.data === undefined ? (
        list.isPending ? <Loading /> : null
      ) : commands.length === 0 ? (
        <Empty>No commands{state !== CommandState.UNSPECIFIED || deviceId !== "" ? " match these filters" : " yet: queue one from a device's page or with `fleetbeat commands queue`"}.</Empty>
      ) : (
        <>
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <WriteOnly>
                    <th scope="col">
                      <span className="visually-hidden">Select</span>
                    </th>
                  </WriteOnly>
                  <th scope="col">Id</th>
                  <th scope="col">Device</th>
                  <th scope="col">Type</th>
                  <th scope="col">State</th>
                  <th scope="col">Result</th>
                  <th scope="col">Campaign</th>
                  <th scope="col">Queued</th>
                  <th scope="col">Deadline</th>
                </tr>
              </thead>
              <tbody>
                {commands.map((c) => {
                  const name = commandStateName(c.state);
                  return (
                    <tr key={String(c.id)}>
                      <WriteOnly>
                        <td>
                          {isPending(c.state) ? (
                            <input type="checkbox" aria-label={`Select command ${c.id}`} checked={selected.has(c.id)} onChange={() => toggle(c.id)} />
                          ) : null}
                        </td>
                      </WriteOnly>
                      <td className="mono">{String(c.id)}</td>
                      <td>
                        <Link href={`/devices/${encodeURIComponent(c.deviceId)}`}>{c.deviceId}</Link>
                      </td>
                      <td>{c.type}</td>
                      <td>
                        <span className={stateTone(name)}>{name}</span>
                        {c.attempt > 1 ? <span className="muted"> (attempt {c.attempt})</span> : null}
                      </td>
                      <td>
                        {name === "succeeded" || name === "failed" ? `exit ${c.returnCode}` : ""}
                        {c.reason ? <span className="muted"> {c.reason}</span> : null}
                      </td>
                      <td>{c.campaignId > 0n ? String(c.campaignId) : "–"}</td>
                      <td>
                        <Time value={c.createdAt} />
                      </td>
                      <td>
                        <Time value={c.deadline} never="–" />
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
          <Pager paging={paging} nextToken={list.data.nextPageToken} label="Commands" />
        </>
      )}
    </section>
  );
}

export function describeTarget(target: CommandTarget | undefined): string {
  const t = target?.target;
  switch (t?.case) {
    case "deviceId":
      return `device ${t.value}`;
    case "devices":
      return `${t.value.deviceIds.length} devices`;
    case "allDevices":
      return "all devices";
    case "label":
      return `label ${t.value}`;
    default:
      return "–";
  }
}

function CampaignList() {
  const queryClient = useQueryClient();
  const [state, setState] = useState<CampaignState>(CampaignState.UNSPECIFIED);
  const paging = usePaging(String(state));
  const list = useQuery(CommandService.method.listCampaigns, { state, pageSize: 20, pageToken: paging.token }, { refetchInterval: 5_000, placeholderData: (p) => p });
  const [confirm, setConfirm] = useState<Campaign | undefined>();
  const cancel = useMutation(CommandService.method.cancelCampaign, {
    onSuccess: () => {
      setConfirm(undefined);
      void queryClient.invalidateQueries();
    },
  });
  const campaigns = list.data?.campaigns ?? [];
  return (
    <section aria-labelledby="campaigns-title">
      <h2 id="campaigns-title">Campaigns</h2>
      <form className="filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          State
          <select value={state} onChange={(e) => setState(Number(e.target.value) as CampaignState)}>
            <option value={CampaignState.UNSPECIFIED}>all</option>
            {campaignStates.map(([value, name]) => (
              <option key={value} value={value}>
                {name}
              </option>
            ))}
          </select>
        </label>
      </form>
      <ErrorNote error={list.error} what="Campaigns" />
      {list.data === undefined ? null : campaigns.length === 0 ? (
        <Empty>No campaigns. A campaign sends one command to many devices at a pace, and stops on failures: `fleetbeat commands queue --label … --per-minute …`.</Empty>
      ) : (
        <>
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Id</th>
                  <th scope="col">Target</th>
                  <th scope="col">Type</th>
                  <th scope="col">State</th>
                  <th scope="col">Progress</th>
                  <th scope="col">Started</th>
                  <th scope="col">Finished</th>
                  <WriteOnly>
                    <th scope="col">
                      <span className="visually-hidden">Actions</span>
                    </th>
                  </WriteOnly>
                </tr>
              </thead>
              <tbody>
                {campaigns.map((k) => {
                  const name = campaignStateName(k.state);
                  const done = k.succeeded + k.failed;
                  const total = k.targeted > 0n ? k.targeted : k.estimated;
                  return (
                    <tr key={String(k.id)}>
                      <td className="mono">
                        <Link href={`/commands?campaign=${k.id}`}>{String(k.id)}</Link>
                      </td>
                      <td>{describeTarget(k.target)}</td>
                      <td>{k.type}</td>
                      <td>
                        <span className={stateTone(name)}>{name}</span>
                        {k.reason ? <span className="muted"> {k.reason}</span> : null}
                      </td>
                      <td>
                        <meter min={0} max={Math.max(1, Number(total))} value={Number(done)} aria-label={`${done} of ${total} done`} />{" "}
                        <Num value={k.succeeded} /> ok, <Num value={k.failed} /> failed of <Num value={total} />
                        {k.materialised ? "" : " (estimated)"}
                      </td>
                      <td>
                        <Time value={k.createdAt} />
                      </td>
                      <td>
                        <Time value={k.finishedAt} never="–" />
                      </td>
                      <WriteOnly>
                        <td>
                          {k.state === CampaignState.RUNNING ? (
                            <button type="button" className="danger" onClick={() => setConfirm(k)}>
                              Cancel
                            </button>
                          ) : null}
                        </td>
                      </WriteOnly>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
          <Pager paging={paging} nextToken={list.data.nextPageToken} label="Campaigns" />
        </>
      )}
      <ConfirmDialog
        open={confirm !== undefined}
        title={`Cancel campaign ${confirm?.id ?? ""}?`}
        action="Cancel campaign"
        busy={cancel.isPending}
        onCancel={() => setConfirm(undefined)}
        onConfirm={() => confirm && cancel.mutate({ id: confirm.id })}
      >
        <p>Its commands not yet delivered are cancelled; commands already delivered still report their results.</p>
        <ErrorNote error={cancel.error} />
      </ConfirmDialog>
    </section>
  );
}
