// @fleetbeat/client in a browser (the package's "browser" export condition):
// OperatorClient over a transport the caller brings (createConnectTransport or
// createGrpcWebTransport from @connectrpc/connect-web), nothing of Node's.
import type { Transport } from "@connectrpc/connect";
import { OperatorClientBase } from "./client-base.js";

export {
  bearerInterceptor,
  ExportFormat,
  OperatorClientBase,
  type CampaignFilter,
  type ReleaseAuditFilter,
  type ChunkSink,
  type CommandFilter,
  type CommandTargetInit,
  type DeviceFilter,
  type EventFilterInit,
  type ExportProgress,
  type PurgeFilter,
  type QueueCommandOptions,
} from "./client-base.js";

export interface OperatorClientOptions {
  /** Base URL of the fleetbeat server (the transport's own decides where calls go). */
  server: string;
  /** The transport, with the operator key in an interceptor (bearerInterceptor(key)). */
  transport: Transport;
  /** Deadline of each unary call in ms (default 30 s). */
  timeoutMs?: number;
}

export class OperatorClient extends OperatorClientBase {
  constructor(options: OperatorClientOptions) {
    super(options.transport, { server: options.server, ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}) });
  }
}
