// Exit codes of the operator commands (documented in the README):
//   0  success
//   1  server or transport error (unreachable, unavailable, internal, deadline, …)
//   2  usage: a bad flag or value, or a request the server refused as invalid
//   3  authentication or permission: no key, a wrong or revoked key (401),
//      or a key whose scope does not allow the call (403)
//   4  not found: the device, command, key, release or machine does not exist
//   5  `commands wait` / `commands queue --wait`: a command did not succeed
//      (failed, expired, cancelled, or still pending at the timeout); `campaigns
//      wait` / a campaign's `queue --wait`: it did not complete without failures
import { Code, ConnectError } from "@connectrpc/connect";
import { ConnectionSettingsError } from "./connection.js";

export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  auth: 3,
  notFound: 4,
  commandUnsuccessful: 5,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** The exit code and a one-line message for an error raised while talking to the server. */
export function classifyError(error: unknown, server: string): { exitCode: ExitCodeValue; message: string } {
  if (error instanceof ConnectionSettingsError) return { exitCode: ExitCode.usage, message: error.message };
  const connectError = ConnectError.from(error);
  const text = connectError.rawMessage;
  switch (connectError.code) {
    case Code.Unauthenticated:
      return { exitCode: ExitCode.auth, message: `not authenticated: ${text} (give an operator key with --key, FLEETBEAT_KEY or the config file)` };
    case Code.PermissionDenied:
      return { exitCode: ExitCode.auth, message: `permission denied: ${text}` };
    case Code.NotFound:
      return { exitCode: ExitCode.notFound, message: /^(not found|no such)\b/i.test(text) ? text : `not found: ${text}` };
    case Code.InvalidArgument:
    case Code.OutOfRange:
    case Code.FailedPrecondition:
    case Code.AlreadyExists:
      return { exitCode: ExitCode.usage, message: `refused by the server: ${text}` };
    case Code.Unimplemented:
      return { exitCode: ExitCode.failure, message: `the server at ${server} does not implement this yet: ${text}` };
    case Code.Unavailable:
      return { exitCode: ExitCode.failure, message: `server unavailable at ${server}: ${text}` };
    case Code.DeadlineExceeded:
      return { exitCode: ExitCode.failure, message: `the server at ${server} did not answer in time: ${text}` };
    default:
      return { exitCode: ExitCode.failure, message: `${server}: ${text}` };
  }
}
