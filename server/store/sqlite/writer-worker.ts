// The SQLite writer thread: it owns the write connection and runs each batch's
// transaction (fsync included) off the main thread, with the same per-slice
// operation handlers as the inline store (SqliteStore.applyNow). One message in,
// one transaction, one answer out; messages are handled in arrival order, and
// the main thread's Batcher keeps at most one in flight.
import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";
import { configureSqlite, SqliteStore } from "./store.js";
import { toWireError, toWireOutcomes, type FromWriter, type ToWriter, type WriterStartOptions } from "./writer-protocol.js";

const port = parentPort;
if (!port) throw new Error("writer-worker.ts runs as a worker thread only");
const options = workerData as WriterStartOptions;
const post = (message: FromWriter) => port.postMessage(message);

let store: SqliteStore | undefined;
try {
  const sqlite = new Database(options.file, { fileMustExist: true });
  try {
    configureSqlite(sqlite, options);
    store = new SqliteStore(sqlite);
  } catch (error) {
    sqlite.close();
    throw error;
  }
  post({ type: "ready" });
} catch (error) {
  post({ type: "startFailed", error: toWireError(error) });
}

port.on("message", (message: ToWriter) => {
  if (message.type === "close") {
    try {
      store?.sqlite.close();
    } finally {
      store = undefined;
      post({ type: "closed" });
      port.close();
    }
    return;
  }
  if (!store) {
    post({ type: "failed", id: message.id, error: toWireError(new Error("the SQLite writer is closed")) });
    return;
  }
  let reply: FromWriter;
  try {
    reply = { type: "applied", id: message.id, outcomes: toWireOutcomes(store.applyNow(message.ops)) };
  } catch (error) {
    reply = { type: "failed", id: message.id, error: toWireError(error) };
  }
  post(reply);
});
