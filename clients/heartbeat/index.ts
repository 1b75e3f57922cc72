// clients/heartbeat: the update-heartbeat client library (SPEC §2).
export { HeartbeatClient, HeartbeatRejectedError, HeartbeatRetryLaterError } from "./client.js";
export type { CheckResult, HeartbeatClientOptions, RetryOptions, UpdateInfo } from "./client.js";
export { hashId, loadIdentity, readPiSerial } from "./identity.js";
export type { Identity, IdentityPaths } from "./identity.js";
export { compareVersions, isNewerVersion, isWellFormedVersion } from "../../shared/version.js";
