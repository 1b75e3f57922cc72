// The server compares versions with exactly the rule the client library uses
// (clients/heartbeat/version.ts documents it), so "update available" means the
// same thing on both sides.
export { compareVersions, isNewerVersion, isWellFormedVersion } from "../../clients/heartbeat/version.js";
