// @fleetbeat/client in Node (browser.ts is the browser entry): the operator API
// from a program. OperatorClient (one typed client per service, paging, streaming
// export), and the connection settings the CLI uses (flags, environment, config
// file) for scripts that want the same.
export {
  OperatorClient,
  OperatorClientBase,
  type OperatorClientBaseOptions,
  bearerInterceptor,
  ExportFormat,
  type OperatorClientOptions,
  type OperatorProtocol,
  type DeviceFilter,
  type CommandFilter,
  type EventFilterInit,
  type CommandTargetInit,
  type QueueCommandOptions,
  type CampaignFilter,
  type ReleaseAuditFilter,
  type PurgeFilter,
  type ExportProgress,
  type ChunkSink,
} from "./client.js";
export {
  resolveConnection,
  defaultConfigPath,
  defaultServerUrl,
  normaliseServerUrl,
  ConnectionSettingsError,
  type ConnectionFlags,
  type ResolvedConnection,
  type ResolveOptions,
  type SettingSource,
} from "./connection.js";
