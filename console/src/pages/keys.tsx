// Operator API keys: create (the secret is shown once), list, revoke. Keys are
// managed with an admin key; a read key sees which key it is.
import { useMutation, useQuery } from "@connectrpc/connect-query";
import { useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { KeyScope, KeyService, type ApiKey } from "../api.js";
import { scopeName } from "../names.js";
import { useSession } from "../session.js";
import { ConfirmDialog, CopyButton, Empty, ErrorNote, Loading, Page, Time } from "../ui.js";

export function Keys() {
  const session = useSession();
  if (!session.canWrite) {
    return (
      <Page title="Keys">
        <p>
          You are signed in with <strong>{session.key.name}</strong>, a read key: it sees the whole fleet but changes nothing. Keys are created and revoked
          with an admin key.
        </p>
      </Page>
    );
  }
  return <ManageKeys />;
}

function ManageKeys() {
  const session = useSession();
  const queryClient = useQueryClient();
  const [all, setAll] = useState(false);
  const list = useQuery(KeyService.method.listKeys, { includeRevoked: all });
  const [name, setName] = useState("");
  const [scope, setScope] = useState<KeyScope>(KeyScope.READ);
  const create = useMutation(KeyService.method.createKey, {
    onSuccess: () => {
      setName("");
      void queryClient.invalidateQueries();
    },
  });
  const [revoking, setRevoking] = useState<ApiKey | undefined>();
  const revoke = useMutation(KeyService.method.revokeKey, {
    onSuccess: () => {
      setRevoking(undefined);
      void queryClient.invalidateQueries();
    },
  });
  const keys = list.data?.keys ?? [];
  return (
    <Page title="Keys">
      <section aria-labelledby="create-title">
        <h2 id="create-title">Create a key</h2>
        <form
          className="filters"
          onSubmit={(event) => {
            event.preventDefault();
            create.mutate({ name: name.trim(), scope });
          }}
        >
          <label>
            Name
            <input required maxLength={100} value={name} onChange={(e) => setName(e.target.value)} placeholder="who or what uses it" />
          </label>
          <label>
            Scope
            <select value={scope} onChange={(e) => setScope(Number(e.target.value) as KeyScope)}>
              <option value={KeyScope.READ}>read: sees everything, changes nothing</option>
              <option value={KeyScope.ADMIN}>admin: everything</option>
            </select>
          </label>
          <button type="submit" className="primary" disabled={create.isPending}>
            Create key
          </button>
        </form>
        <ErrorNote error={create.error} what="Creating the key" />
        {create.data !== undefined ? (
          <div className="panel" role="status">
            <p>
              Key <strong>{create.data.key?.name}</strong> created. Copy it now: it is shown only this once (the server keeps only its hash).
            </p>
            <p className="row">
              <code className="secret" data-testid="new-key-secret">
                {create.data.secret}
              </code>
              <CopyButton text={create.data.secret} />
              <button type="button" onClick={() => create.reset()}>
                Done
              </button>
            </p>
          </div>
        ) : null}
      </section>
      <section aria-labelledby="keys-title">
        <div className="section-head">
          <h2 id="keys-title">Keys</h2>
          <label className="switch">
            <input type="checkbox" checked={all} onChange={(e) => setAll(e.target.checked)} /> Show revoked keys
          </label>
        </div>
        <ErrorNote error={list.error} what="Keys" />
        <ErrorNote error={revoke.error} what="Revoking" />
        {list.data === undefined ? (
          list.isPending ? <Loading /> : null
        ) : keys.length === 0 ? (
          <Empty>No keys.</Empty>
        ) : (
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Id</th>
                  <th scope="col">Scope</th>
                  <th scope="col">Created</th>
                  <th scope="col">Last used</th>
                  <th scope="col">Revoked</th>
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {keys.map((k) => (
                  <tr key={k.id}>
                    <td>
                      {k.name}
                      {k.id === session.key.id ? <span className="badge"> this console</span> : null}
                    </td>
                    <td className="mono">{k.id}</td>
                    <td>{scopeName(k.scope)}</td>
                    <td>
                      <Time value={k.createdAt} />
                    </td>
                    <td>
                      <Time value={k.lastUsedAt} />
                    </td>
                    <td>
                      <Time value={k.revokedAt} never="–" />
                    </td>
                    <td>
                      {k.revokedAt === undefined ? (
                        <button type="button" className="danger" onClick={() => setRevoking(k)} aria-label={`Revoke ${k.name}`}>
                          Revoke
                        </button>
                      ) : null}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      <ConfirmDialog
        open={revoking !== undefined}
        title={`Revoke ${revoking?.name ?? ""}?`}
        action="Revoke key"
        busy={revoke.isPending}
        onCancel={() => setRevoking(undefined)}
        onConfirm={() => revoking && revoke.mutate({ id: revoking.id })}
      >
        <p>
          Every call with this key fails from now on{revoking?.id === session.key.id ? ", including this console's: you will be signed out" : ""}. This cannot be undone.
        </p>
        <ErrorNote error={revoke.error} />
      </ConfirmDialog>
    </Page>
  );
}
