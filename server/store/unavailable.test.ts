// Which driver errors count as "storage is unavailable" (503) and which stay our
// fault or the data's (500 / the operation's own error).
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { FleetbeatError } from "../core/errors.js";
import { isStorageUnavailable, storageErrorOf, tryAgainReasonOf } from "./unavailable.js";

const withCode = (code: string, message = "x") => Object.assign(new Error(message), { code });

describe("isStorageUnavailable", () => {
  it("recognises lost and refused connections, timeouts and a database that cannot take writes", () => {
    for (const error of [
      withCode("ECONNREFUSED"),
      withCode("ECONNRESET"),
      withCode("ETIMEDOUT"),
      withCode("08006"), // connection_failure
      withCode("57P01"), // admin_shutdown
      withCode("57014"), // statement_timeout
      withCode("53100"), // disk_full
      withCode("25006"), // read-only: a standby
      withCode("40001"), // serialization_failure: lost a conflict
      withCode("40P01"), // deadlock_detected
      new Error("Query read timeout"),
      new Error("timeout exceeded when trying to connect"),
      new Error("Connection terminated unexpectedly"),
      new Error("Connection terminated due to connection timeout"),
      new Error("Client has encountered a connection error and is not queryable"),
      new Database.SqliteError("database is locked", "SQLITE_BUSY"),
      new Database.SqliteError("database or disk is full", "SQLITE_FULL"),
      new Database.SqliteError("disk I/O error", "SQLITE_IOERR_WRITE"),
      new FleetbeatError("STORAGE_BUSY"),
    ]) {
      expect(isStorageUnavailable(error), String(error)).toBe(true);
    }
  });

  it("looks through wrappers: a Drizzle query error's cause, an AggregateError's parts", () => {
    expect(isStorageUnavailable(new Error("Failed query: insert …", { cause: withCode("57014") }))).toBe(true);
    expect(isStorageUnavailable(new AggregateError([withCode("ECONNREFUSED"), withCode("ECONNREFUSED")], "connect failed"))).toBe(true);
  });

  it("leaves bugs and bad data alone", () => {
    for (const error of [
      new Error("boom"),
      new TypeError("x is undefined"),
      withCode("23505"), // unique_violation
      withCode("22P02"), // invalid_text_representation
      withCode("42P01"), // undefined_table: our bug
      withCode("40002"), // transaction_integrity_constraint_violation: the data's fault
      new Database.SqliteError("UNIQUE constraint failed", "SQLITE_CONSTRAINT_UNIQUE"),
      new FleetbeatError("BAD_REQUEST"),
      "ECONNREFUSED",
      undefined,
    ]) {
      expect(isStorageUnavailable(error), String(error)).toBe(false);
    }
  });

  it("storageErrorOf answers STORAGE_UNAVAILABLE with Retry-After and the driver error as cause, and nothing for our own errors", () => {
    const cause = withCode("ECONNREFUSED");
    const mapped = storageErrorOf(cause);
    expect(mapped?.errorName).toBe("STORAGE_UNAVAILABLE");
    expect(mapped?.httpStatus).toBe(503);
    expect(mapped?.retryAfterSeconds).toBeGreaterThan(0);
    expect(mapped?.cause).toBe(cause);
    expect(storageErrorOf(new FleetbeatError("STORAGE_BUSY"))).toBeUndefined();
    expect(storageErrorOf(new Error("boom"))).toBeUndefined();
  });
});

describe("tryAgainReasonOf", () => {
  it("names lost conflicts and lost connections, looking through wrappers", () => {
    expect(tryAgainReasonOf(withCode("40001"))).toBe("serialization_failure");
    expect(tryAgainReasonOf(withCode("40P01"))).toBe("deadlock");
    for (const lost of [
      withCode("57P01"), // admin_shutdown: pg_terminate_backend, a restart
      withCode("57P02"), // crash_shutdown
      withCode("08006"), // connection_failure
      withCode("08003"), // connection_does_not_exist
      withCode("ECONNRESET"),
      withCode("ECONNABORTED"),
      withCode("EPIPE"),
      new Error("Connection terminated unexpectedly"),
      new Error("Client has encountered a connection error and is not queryable"),
      new Error("Client was closed and is not queryable"),
    ]) {
      expect(tryAgainReasonOf(lost), String(lost)).toBe("connection_lost");
    }
    expect(tryAgainReasonOf(new Error("Failed query: commit", { cause: withCode("40P01") }))).toBe("deadlock");
    expect(tryAgainReasonOf(new Error("a", { cause: new Error("b", { cause: withCode("57P01") }) }))).toBe("connection_lost");
  });

  it("leaves out timeouts, refused connections, full disks and everything that is not storage's", () => {
    for (const error of [
      withCode("57014"), // statement_timeout: it would most likely time out again
      withCode("55P03"), // lock_timeout
      withCode("25P03"), // idle_in_transaction_session_timeout
      withCode("ECONNREFUSED"),
      withCode("ETIMEDOUT"),
      withCode("53100"), // disk_full
      withCode("40002"),
      withCode("23505"),
      withCode("08006X"),
      new Error("Query read timeout"),
      new Error("timeout exceeded when trying to connect"),
      new Error("Connection terminated due to connection timeout"),
      new Error("boom: Connection terminated unexpectedly"),
      new FleetbeatError("STORAGE_UNAVAILABLE", undefined, { cause: withCode("40P01") }),
      "40P01",
      null,
      undefined,
    ]) {
      expect(tryAgainReasonOf(error), String(error)).toBeUndefined();
    }
  });

  it("stops looking after a few wrappers", () => {
    let error: Error = withCode("40P01");
    for (let i = 0; i < 5; i++) error = new Error(`wrap ${i}`, { cause: error });
    expect(tryAgainReasonOf(error)).toBe("deadlock");
    expect(tryAgainReasonOf(new Error("one more", { cause: error }))).toBeUndefined();
  });
});
