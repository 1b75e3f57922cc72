// Requests for the agent benchmark: POST /heartbeat of `active` devices spread over
// the `devices` registered ones, each with its own X-DI-DEVICEID and X-DI-TOKEN and
// the seed's empty result body. Cycled, so every device beats once per `active` requests.
import type { BenchRequest } from "./lib/http-client.js";
import type { RequestFactory } from "./lib/loadgen.js";
import { fleetDeviceId, fleetToken } from "./agent-fleet.js";

export interface AgentFactoryArgs {
  devices: number;
  active: number;
}

export const heartbeatBody = new TextEncoder().encode('{"result":{}}');

export function createRequestFactory(args: AgentFactoryArgs): RequestFactory {
  const active = Math.max(1, Math.min(args.active, args.devices));
  // A stride coprime with `devices` visits devices all over the id space.
  let stride = Math.max(1, Math.floor(args.devices / active));
  while (gcd(stride, args.devices) !== 1) stride++;
  const requests: BenchRequest[] = Array.from({ length: active }, (_, k) => {
    const i = (k * stride) % args.devices;
    return {
      method: "POST",
      path: "/heartbeat",
      headers: { "Content-Type": "application/json", "X-DI-DEVICEID": fleetDeviceId(i), "X-DI-TOKEN": fleetToken(i) },
      body: heartbeatBody,
    };
  });
  return (index) => requests[index % requests.length] as BenchRequest;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}
