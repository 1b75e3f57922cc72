// The console's one way to the server: a Connect-Web transport to the operator API
// on the page's own origin, carrying the signed-in key as a bearer token.
import { Code, ConnectError, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { KeyService, type ApiKey } from "../../gen/fleetbeat/operator/v1/keys_pb.js";

export * from "../../gen/fleetbeat/operator/v1/census_pb.js";
export * from "../../gen/fleetbeat/operator/v1/commands_pb.js";
export * from "../../gen/fleetbeat/operator/v1/devices_pb.js";
export * from "../../gen/fleetbeat/operator/v1/events_pb.js";
export * from "../../gen/fleetbeat/operator/v1/keys_pb.js";
export * from "../../gen/fleetbeat/operator/v1/machines_pb.js";
export * from "../../gen/fleetbeat/operator/v1/releases_pb.js";
export * from "../../gen/fleetbeat/operator/v1/stats_pb.js";

export function operatorTransport(secret: string): Transport {
  const bearer: Interceptor = (next) => (request) => {
    request.header.set("authorization", `Bearer ${secret}`);
    return next(request);
  };
  return createConnectTransport({ baseUrl: window.location.origin, interceptors: [bearer] });
}

/** True for the answers that mean "this key no longer opens the API" (unknown, revoked). */
export function isSignedOut(error: unknown): boolean {
  return error instanceof ConnectError && error.code === Code.Unauthenticated;
}

/** What to tell a person about a failed call: the server's message, with what kind of failure it was. */
export function describeError(error: unknown): string {
  if (error instanceof ConnectError) {
    switch (error.code) {
      case Code.PermissionDenied:
        return `Not allowed with this key: ${error.rawMessage}`;
      case Code.Unavailable:
        return `The server cannot answer right now (${error.rawMessage}). It will be tried again.`;
      case Code.DeadlineExceeded:
        return "The server took too long to answer. Try again, or narrow the request.";
      case Code.InvalidArgument:
      case Code.FailedPrecondition:
      case Code.OutOfRange:
        return error.rawMessage;
      case Code.NotFound:
        return `Not found: ${error.rawMessage}`;
      case Code.Unknown:
        if (/fetch|network/i.test(error.rawMessage)) return "The server could not be reached. Check that it is running.";
        return error.rawMessage;
      default:
        return `${error.rawMessage} (${Code[error.code]})`;
    }
  }
  return error instanceof Error ? error.message : String(error);
}

/** Asks the server which key `secret` is (KeyService.GetCurrentKey); fails as the server does. */
export async function whoIs(secret: string): Promise<ApiKey> {
  const keys = createClient(KeyService, operatorTransport(secret));
  const { key } = await keys.getCurrentKey({}, { timeoutMs: 15_000 });
  if (key === undefined) throw new Error("the server did not say which key this is");
  return key;
}
