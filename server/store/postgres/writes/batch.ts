// How the Postgres store cuts a batch for its set-based writers: into segments,
// runs of consecutive operations of one kind that a writer of ./ takes whole
// (check-ins, registrations, event inserts, heartbeat records), and single
// operations of every other kind (the per-operation path). Segments keep the
// batch's order, so running them in turn is running the operations one by one.
// A device's second check-in (or registration) starts a new segment: within one,
// every device is decided once, on the row as the segment found it.
import type { AgentCheckInOp, AgentRegisterOp, InsertEventsOp, RecordHeartbeatsOp, WriteOp } from "../../store.js";

export type Segment =
  | { kind: "agentCheckIn"; ops: AgentCheckInOp[] }
  | { kind: "agentRegister"; ops: AgentRegisterOp[] }
  | { kind: "insertEvents"; ops: InsertEventsOp[] }
  | { kind: "recordHeartbeats"; ops: RecordHeartbeatsOp[] }
  | { kind: "single"; op: WriteOp };

type SetBasedKind = Exclude<Segment["kind"], "single">;
const setBased: ReadonlySet<WriteOp["kind"]> = new Set<SetBasedKind>(["agentCheckIn", "agentRegister", "insertEvents", "recordHeartbeats"]);

export function segmentsOf(ops: readonly WriteOp[]): Segment[] {
  const segments: Segment[] = [];
  let devices = new Set<string>();
  for (const op of ops) {
    const last = segments.at(-1);
    const device = op.kind === "agentCheckIn" || op.kind === "agentRegister" ? op.deviceId : undefined;
    if (last && last.kind === op.kind && (device === undefined || !devices.has(device))) {
      (last.ops as WriteOp[]).push(op);
    } else {
      segments.push(setBased.has(op.kind) ? ({ kind: op.kind, ops: [op] } as Segment) : { kind: "single", op });
      devices = new Set();
    }
    if (device !== undefined) devices.add(device);
  }
  return segments;
}

/** Whether a segment locks device rows: then the batch's first such segment locks all of them, in one order. */
export function locksDevices(segment: Segment): boolean {
  return segment.kind === "agentCheckIn" || segment.kind === "agentRegister" || (segment.kind === "single" && segment.op.kind === "agentDeleteDevice");
}

/** Every device id whose row an operation of the batch locks (check-in, registration, deletion). */
export function lockedDeviceIds(ops: readonly WriteOp[]): string[] {
  const ids = new Set<string>();
  for (const op of ops) {
    if (op.kind === "agentCheckIn" || op.kind === "agentRegister" || op.kind === "agentDeleteDevice") ids.add(op.deviceId);
  }
  return [...ids];
}

/** The device ids the batch registers: their first registrations must not race (see lockRegistrations). */
export function registeredDeviceIds(ops: readonly WriteOp[]): string[] {
  const ids = new Set<string>();
  for (const op of ops) if (op.kind === "agentRegister") ids.add(op.deviceId);
  return [...ids];
}
