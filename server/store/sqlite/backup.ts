// Online backup of the SQLite store: a consistent copy of <dataDir>/fleetbeat.sqlite
// in one self-contained file, safe while a server runs and writes.
//
// Why it is safe: the backup opens its own read-only connection on the file (the
// server's writer thread and read connection are other connections). The
// database is in WAL mode, so a reader never blocks the writer and sees one
// committed state. SQLite's backup API restarts a copy when another connection
// commits between two of its steps; copying every page in one step (one read
// transaction) leaves no such gap, so a busy server cannot make it start over
// forever. The copy is written beside the destination under a temporary name,
// checked, switched out of WAL mode (one file, nothing beside it), synced, and
// only then renamed to the destination: a failed backup never leaves a partial
// file under the name a restore would use. (Even a read-only connection creates
// the -wal and -shm files of a stopped server's database; run by root, SQLite
// gives them to the database file's owner itself, so `sudo fleetbeat backup`
// does not lock the server's user out.)
import { closeSync, fsyncSync, openSync, renameSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { sqliteFileName } from "./store.js";

export interface SqliteBackupOptions {
  /** The server's data folder (the database is <dataDir>/fleetbeat.sqlite). */
  readonly dataDir: string;
  /** The file to write. Its folder must exist. */
  readonly destination: string;
  /** Replace the destination when it exists (default: refuse). */
  readonly overwrite?: boolean | undefined;
  /** How long to wait for a lock the server holds (ms); default 5000. */
  readonly busyTimeoutMs?: number | undefined;
}

export interface SqliteBackupResult {
  /** The absolute path of the backup. */
  readonly file: string;
  readonly bytes: number;
  /** Database pages copied. */
  readonly pages: number;
  /** Schema migrations recorded in the copy (as many as the server had applied). */
  readonly migrations: number;
  readonly durationMs: number;
}

/** A backup refused before anything was copied (missing database, destination taken, …). */
export class BackupRefusedError extends Error {
  override readonly name = "BackupRefusedError";
}

export async function backupSqlite(options: SqliteBackupOptions): Promise<SqliteBackupResult> {
  const started = performance.now();
  const source = path.resolve(options.dataDir, sqliteFileName);
  const destination = path.resolve(options.destination);
  if (destination === source) throw new BackupRefusedError("the backup cannot replace the database it copies");
  if (!isFile(source)) throw new BackupRefusedError(`no fleetbeat database at ${source} (is --data-dir right?)`);
  if (!options.overwrite && exists(destination)) {
    throw new BackupRefusedError(`${destination} already exists (choose another name, or pass --overwrite)`);
  }
  if (!isDirectory(path.dirname(destination))) throw new BackupRefusedError(`the folder ${path.dirname(destination)} does not exist`);

  // In the destination's folder, so the final rename never crosses file systems.
  const partial = path.join(path.dirname(destination), `.${path.basename(destination)}.partial-${process.pid}-${Date.now()}`);
  const db = new Database(source, { readonly: true, fileMustExist: true });
  try {
    db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(options.busyTimeoutMs ?? 5_000))}`);
    if (!hasTable(db, "__drizzle_migrations")) throw new BackupRefusedError(`${source} is not a fleetbeat database (no migrations table)`);
    // better-sqlite3's first step only measures; the number returned here is the
    // size of every later step: all remaining pages at once (see the top).
    const progress = await db.backup(partial, { progress: () => 0x7fffffff });
    const migrations = finishCopy(partial);
    syncFile(partial);
    renameSync(partial, destination);
    syncFile(path.dirname(destination));
    return {
      file: destination,
      bytes: statSync(destination).size,
      pages: progress.totalPages,
      migrations,
      durationMs: Math.round(performance.now() - started),
    };
  } finally {
    db.close();
    for (const leftover of [partial, `${partial}-wal`, `${partial}-shm`, `${partial}-journal`]) rmSync(leftover, { force: true });
  }
}

/**
 * Checks the copy and makes it one self-contained file: rollback-journal mode
 * (the copy carries the source's WAL flag otherwise), page checks, and the
 * number of migrations it records.
 */
function finishCopy(file: string): number {
  const copy = new Database(file, { fileMustExist: true });
  try {
    copy.pragma("journal_mode = DELETE");
    const check = copy.pragma("quick_check", { simple: true });
    if (check !== "ok") throw new Error(`the backup copy failed SQLite's quick_check: ${String(check)}`);
    return Number(copy.prepare(`SELECT count(*) FROM "__drizzle_migrations"`).pluck().get());
  } finally {
    copy.close();
  }
}

function hasTable(db: Database.Database, name: string): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").pluck().get(name) !== undefined;
}

/** fsync a file or a folder (the folder makes the rename durable). */
function syncFile(file: string): void {
  const fd = openSync(file, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function exists(file: string): boolean {
  try {
    statSync(file);
    return true;
  } catch {
    return false;
  }
}

function isFile(file: string): boolean {
  try {
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

function isDirectory(file: string): boolean {
  try {
    return statSync(file).isDirectory();
  } catch {
    return false;
  }
}
