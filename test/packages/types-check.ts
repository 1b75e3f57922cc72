// Compiled (never run) by test/packages/run.mjs in the scratch project with
// `tsc --noEmit` under NodeNext resolution: every package's `exports` must lead
// TypeScript to its declarations, and the declarations must fit together.
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { type AgentOptions, runAgent } from "@fleetbeat/agent";
import { type CommandFilter, OperatorClient } from "@fleetbeat/client";
import { type CheckResult, HeartbeatClient } from "@fleetbeat/heartbeat";
import { type Device, DeviceService } from "@fleetbeat/proto/fleetbeat/operator/v1/devices_pb.js";
import { CollectionSchema } from "@fleetbeat/proto/fleetbeat/track/v1/collection_pb";
import { ClientTracker, type FlushResult } from "@fleetbeat/tracker";

const devices: Client<typeof DeviceService> = createClient(DeviceService, createGrpcTransport({ baseUrl: "http://127.0.0.1:6011" }));
const operator = new OperatorClient({ server: "http://127.0.0.1:6011", key: "k" });
const filter: CommandFilter = {};
const listed: Promise<Device[]> = devices.listDevices({}).then((page) => page.devices);
const checked: Promise<CheckResult> = new HeartbeatClient({ baseUrl: "http://127.0.0.1:6011", version: "1.0.0" }).checkNow();
const flushed: Promise<FlushResult> = ClientTracker.prototype.flush.call(undefined as never);
const run: (settings: { configFile: string }) => Promise<void> = runAgent;
const options: Partial<AgentOptions> = {};
const typeName: string = CollectionSchema.typeName;
export { filter, listed, checked, flushed, run, options, typeName, operator };
