// The operator client over any connect-es transport, with nothing of Node's:
// the generated Connect clients of gen/fleetbeat/operator/v1 plus helpers that
// page through lists, wait for command results and stream exports without
// holding them in memory. client.ts adds Node's transports (OperatorClient);
// browser.ts is the entry for browsers, where the caller brings the transport.
import type { MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { createClient, type CallOptions, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { CensusService } from "@fleetbeat/proto/fleetbeat/operator/v1/census_pb.js";
import {
  type Campaign,
  type CampaignOptionsSchema,
  CampaignState,
  type Command,
  type CommandTargetSchema,
  type ListCampaignsRequestSchema,
  type PurgeCommandsRequestSchema,
  type QueueCommandResponse,
  CommandService,
  type ListCommandsRequestSchema,
} from "@fleetbeat/proto/fleetbeat/operator/v1/commands_pb.js";
import { type Device, DeviceService, type ListDevicesRequestSchema } from "@fleetbeat/proto/fleetbeat/operator/v1/devices_pb.js";
import {
  type Event,
  type EventFilterSchema,
  EventService,
  type ExportEventsResponse,
  ExportFormat,
} from "@fleetbeat/proto/fleetbeat/operator/v1/events_pb.js";
import { KeyService } from "@fleetbeat/proto/fleetbeat/operator/v1/keys_pb.js";
import { MachineService } from "@fleetbeat/proto/fleetbeat/operator/v1/machines_pb.js";
import {
  type ListReleaseAuditRequestSchema,
  type ReleaseAuditEntry,
  ReleaseService,
} from "@fleetbeat/proto/fleetbeat/operator/v1/releases_pb.js";
import { StatsService } from "@fleetbeat/proto/fleetbeat/operator/v1/stats_pb.js";

export interface OperatorClientBaseOptions {
  /** Base URL of the fleetbeat server, e.g. "http://127.0.0.1:6011" (kept for messages). */
  server: string;
  /** Deadline of each unary call in ms (default 30 s); streams have none unless given per call. */
  timeoutMs?: number;
}

export type DeviceFilter = Omit<MessageInitShape<typeof ListDevicesRequestSchema>, "pageToken" | "$typeName">;
export type CommandFilter = Omit<MessageInitShape<typeof ListCommandsRequestSchema>, "pageToken" | "$typeName">;
export type EventFilterInit = MessageInitShape<typeof EventFilterSchema>;
export type CommandTargetInit = MessageInitShape<typeof CommandTargetSchema>["target"];

export interface QueueCommandOptions {
  target: CommandTargetInit;
  type: number;
  content?: string;
  /** Time to live in ms; unset means the server's default. For a campaign (label, all devices), its deadline. */
  ttlMs?: number;
  /** Rate limit, abort criteria and retries of a campaign (label or all devices only). */
  campaign?: MessageInitShape<typeof CampaignOptionsSchema>;
}

/** Where a listing starts, and where the next one would continue. */
export interface Paging {
  /** Start from this page token (an earlier listing's nextPageToken). */
  pageToken?: string;
  /** Set by the listing when it stopped at its limit with more results left. */
  nextPageToken?: string | undefined;
}

export type ReleaseAuditFilter = Omit<MessageInitShape<typeof ListReleaseAuditRequestSchema>, "pageToken" | "$typeName">;
export type CampaignFilter = Omit<MessageInitShape<typeof ListCampaignsRequestSchema>, "pageToken" | "$typeName">;
export type PurgeFilter = Omit<MessageInitShape<typeof PurgeCommandsRequestSchema>, "$typeName">;

export interface ExportProgress {
  events: number;
  bytes: number;
}

/** Where export chunks go; its promise is awaited before the next chunk is read (back-pressure). */
export type ChunkSink = (chunk: Uint8Array) => Promise<void> | void;

export class OperatorClientBase {
  readonly devices: Client<typeof DeviceService>;
  readonly commands: Client<typeof CommandService>;
  readonly releases: Client<typeof ReleaseService>;
  readonly census: Client<typeof CensusService>;
  readonly events: Client<typeof EventService>;
  readonly machines: Client<typeof MachineService>;
  readonly keys: Client<typeof KeyService>;
  readonly stats: Client<typeof StatsService>;
  readonly server: string;
  private readonly timeoutMs: number;

  constructor(transport: Transport, options: OperatorClientBaseOptions) {
    this.server = options.server;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.devices = createClient(DeviceService, transport);
    this.commands = createClient(CommandService, transport);
    this.releases = createClient(ReleaseService, transport);
    this.census = createClient(CensusService, transport);
    this.events = createClient(EventService, transport);
    this.machines = createClient(MachineService, transport);
    this.keys = createClient(KeyService, transport);
    this.stats = createClient(StatsService, transport);
  }

  /** Options for a unary call: the client's deadline unless the caller gives one. */
  call(options: CallOptions = {}): CallOptions {
    return { timeoutMs: this.timeoutMs, ...options };
  }

  /**
   * Pages through a listing from `paging.pageToken` (or the start). When it stops
   * at `limit` with more left, `paging.nextPageToken` is set to the token that
   * continues it (the pages asked for never hold more than `limit` still needs,
   * so the token skips nothing).
   */
  private async *paged<T>(
    hint: number | undefined,
    limit: number | undefined,
    paging: Paging,
    fetchPage: (pageSize: number, pageToken: string) => Promise<{ items: readonly T[]; next: string }>,
  ): AsyncGenerator<T> {
    let pageToken = paging.pageToken ?? "";
    let yielded = 0;
    paging.nextPageToken = undefined;
    do {
      const page = await fetchPage(pageSizeFor(hint, limit, yielded), pageToken);
      for (const item of page.items) {
        if (limit !== undefined && yielded >= limit) return;
        yielded++;
        yield item;
      }
      pageToken = page.next;
    } while (pageToken !== "" && (limit === undefined || yielded < limit));
    if (pageToken !== "") paging.nextPageToken = pageToken;
  }

  /** Every device matching the filter, page by page (at most `limit` when given; see Paging). */
  listDevices(filter: DeviceFilter = {}, limit?: number, paging: Paging = {}): AsyncGenerator<Device> {
    return this.paged(filter.pageSize, limit, paging, async (pageSize, pageToken) => {
      const page = await this.devices.listDevices({ ...filter, pageSize, pageToken }, this.call());
      return { items: page.devices, next: page.nextPageToken };
    });
  }

  /** Every command matching the filter, page by page (at most `limit` when given; see Paging). */
  listCommands(filter: CommandFilter = {}, limit?: number, paging: Paging = {}): AsyncGenerator<Command> {
    return this.paged(filter.pageSize, limit, paging, async (pageSize, pageToken) => {
      const page = await this.commands.listCommands({ ...filter, pageSize, pageToken }, this.call());
      return { items: page.commands, next: page.nextPageToken };
    });
  }

  /** Every event matching the filter, page by page (at most `limit` when given; see Paging). */
  listEvents(filter: EventFilterInit = {}, limit?: number, pageSizeHint?: number, paging: Paging = {}): AsyncGenerator<Event> {
    return this.paged(pageSizeHint, limit, paging, async (pageSize, pageToken) => {
      const page = await this.events.listEvents({ filter, pageSize, pageToken }, this.call());
      return { items: page.events, next: page.nextPageToken };
    });
  }

  /** Every release audit entry matching the filter, newest first, page by page (at most `limit` when given; see Paging). */
  listReleaseAudit(filter: ReleaseAuditFilter = {}, limit?: number, paging: Paging = {}): AsyncGenerator<ReleaseAuditEntry> {
    return this.paged(filter.pageSize, limit, paging, async (pageSize, pageToken) => {
      const page = await this.releases.listReleaseAudit({ ...filter, pageSize, pageToken }, this.call());
      return { items: page.entries, next: page.nextPageToken };
    });
  }

  /** Queues one command per listed device and returns them (for a label or all devices: none, see queue()). */
  async queueCommand(options: QueueCommandOptions): Promise<Command[]> {
    return (await this.queue(options)).commands;
  }

  /** Queues a command: the per-device commands of a device list, or the campaign started for a label or all devices. */
  async queue(options: QueueCommandOptions): Promise<QueueCommandResponse> {
    return this.commands.queueCommand(
      {
        target: { target: options.target },
        type: options.type,
        content: options.content ?? "",
        ...(options.ttlMs !== undefined ? { ttl: durationFromMs(options.ttlMs) } : {}),
        ...(options.campaign ? { campaign: options.campaign } : {}),
      },
      this.call(),
    );
  }

  /** Every campaign matching the filter, newest first, page by page (at most `limit` when given; see Paging). */
  listCampaigns(filter: CampaignFilter = {}, limit?: number, paging: Paging = {}): AsyncGenerator<Campaign> {
    return this.paged(filter.pageSize, limit, paging, async (pageSize, pageToken) => {
      const page = await this.commands.listCampaigns({ ...filter, pageSize, pageToken }, this.call());
      return { items: page.campaigns, next: page.nextPageToken };
    });
  }

  /**
   * Polls the campaign every `pollMs` until it is no longer running or `timeoutMs`
   * passed; calls `onProgress` with each reading. Answers the last reading.
   */
  async waitCampaign(id: bigint, timeoutMs: number, onProgress?: (campaign: Campaign) => void, pollMs = 1_000, signal?: AbortSignal): Promise<Campaign> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const campaign = (await this.commands.getCampaign({ id }, this.call())).campaign!;
      onProgress?.(campaign);
      if (campaign.state !== CampaignState.RUNNING || Date.now() >= until || signal?.aborted) return campaign;
      await new Promise((resolve) => setTimeout(resolve, Math.min(pollMs, Math.max(0, until - Date.now()))));
    }
  }

  /** Deletes every final command matching the filter, one bounded call after the other; answers how many. */
  async purgeCommands(filter: PurgeFilter): Promise<bigint> {
    let deleted = 0n;
    for (;;) {
      const response = await this.commands.purgeCommands(filter, this.call());
      deleted += response.deleted;
      if (!response.more) return deleted;
    }
  }

  /** Yields each command once it is final (succeeded, failed, expired, cancelled); ends when all are, or at the timeout. */
  async *waitCommands(ids: readonly bigint[], timeoutMs?: number, signal?: AbortSignal): AsyncGenerator<Command> {
    const request = { ids: [...ids], ...(timeoutMs !== undefined ? { timeout: durationFromMs(timeoutMs) } : {}) };
    // The server ends the stream at its timeout; ours is a little longer, only against a server that never answers.
    const options: CallOptions = { ...(signal ? { signal } : {}), ...(timeoutMs !== undefined ? { timeoutMs: timeoutMs + 10_000 } : {}) };
    for await (const response of this.commands.waitCommands(request, options)) {
      if (response.command) yield response.command;
    }
  }

  /**
   * Streams the server's export of every matching event into `sink`, chunk by
   * chunk; the next chunk is read only after `sink` finished with the previous
   * one, so memory stays flat whatever the size of the export.
   */
  async exportEvents(
    request: { filter?: EventFilterInit; format: ExportFormat },
    sink: ChunkSink,
    onProgress?: (progress: ExportProgress) => void,
    signal?: AbortSignal,
  ): Promise<ExportProgress> {
    const progress: ExportProgress = { events: 0, bytes: 0 };
    const stream = this.events.exportEvents({ filter: request.filter ?? {}, format: request.format }, signal ? { signal } : {});
    for await (const response of stream as AsyncIterable<ExportEventsResponse>) {
      if (response.chunk.length > 0) await sink(response.chunk);
      progress.events += response.events;
      progress.bytes += response.chunk.length;
      onProgress?.(progress);
    }
    return progress;
  }

  /** New events as the server commits them, until `signal` aborts or the server ends the stream. */
  async *followEvents(filter: EventFilterInit = {}, signal?: AbortSignal): AsyncGenerator<Event> {
    for await (const response of this.events.followEvents({ filter }, signal ? { signal } : {})) {
      if (response.event) yield response.event;
    }
  }

  /** Releases the connections this client keeps open (the transport's own; nothing here). */
  close(): void {}
}

export function bearerInterceptor(key: string): Interceptor {
  return (next) => async (request) => {
    request.header.set("authorization", `Bearer ${key}`);
    return next(request);
  };
}

/** Page size for the next request: the caller's hint, shrunk to what `limit` still needs; 0 lets the server choose. */
function pageSizeFor(hint: number | undefined, limit: number | undefined, yielded: number): number {
  const wanted = hint ?? 0;
  if (limit === undefined) return wanted;
  const left = Math.max(1, limit - yielded);
  return wanted === 0 ? Math.min(left, 1000) : Math.min(wanted, left);
}

export { ExportFormat };
