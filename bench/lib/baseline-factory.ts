// Requests for the bare node:http baseline: a POST with a body of the size the
// measured benchmark sends (so both runs move the same bytes), or a bodiless GET.
import type { BenchRequest } from "./http-client.js";
import type { RequestFactory } from "./loadgen.js";

export function createRequestFactory(args: { bodyBytes?: number } | undefined): RequestFactory {
  const bodyBytes = args?.bodyBytes ?? 0;
  const request: BenchRequest =
    bodyBytes > 0
      ? { method: "POST", path: "/", headers: { "Content-Type": "application/octet-stream" }, body: new Uint8Array(bodyBytes).fill(0x61) }
      : { method: "GET", path: "/" };
  return () => request;
}
