// Storage contract of the readiness probe (server/store/readiness.ts): one write
// operation that makes its batch's transaction a real commit, so a probe that
// succeeds proves the database can commit right now (not only answer a SELECT).

/**
 * Commits a write that changes nothing visible: Postgres assigns the transaction
 * an id (so its COMMIT writes and flushes a WAL record), SQLite rewrites its
 * header's user_version with the value it has (a WAL frame, synced).
 */
export interface ProbeCommitOp {
  kind: "probeCommit";
}

export interface ProbeCommitResult {
  kind: "probeCommit";
}

export type ProbeWriteOp = ProbeCommitOp;
export type ProbeWriteResult = ProbeCommitResult;
