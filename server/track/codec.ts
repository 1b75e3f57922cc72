// Legacy body ⇄ generated Collection, and nothing else: no validation beyond
// "does it parse", no auth. POST /api/v1/track carries the Collection as
// protobuf (application/protobuf, application/x-protobuf, application/octet-stream)
// or as protobuf JSON (application/json; snake_case or camelCase keys, uint64 as
// number or string). Parameters such as "; charset=utf-8" are ignored.
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { CollectionSchema, type Collection } from "../../gen/fleetbeat/track/v1/collection_pb.js";
import { FleetbeatError } from "../core/errors.js";
import { decodeCollectionBinary } from "./binary.js";

export type BodyFormat = "protobuf" | "json";

const formats: Record<string, BodyFormat> = {
  "application/protobuf": "protobuf",
  "application/x-protobuf": "protobuf",
  "application/octet-stream": "protobuf",
  "application/json": "json",
};

/** The body format a Content-Type names, or an UNSUPPORTED_MEDIA_TYPE error. A missing type means protobuf (the 2016 clients sent none). */
export function bodyFormatOf(contentType: string | undefined): BodyFormat {
  if (contentType === undefined || contentType.trim() === "") return "protobuf";
  const mediaType = contentType.split(";", 1)[0]!.trim().toLowerCase();
  const format = formats[mediaType];
  if (!format) throw new FleetbeatError("UNSUPPORTED_MEDIA_TYPE", `${mediaType} (use application/protobuf or application/json)`);
  return format;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Decodes a legacy body. Throws MALFORMED_BODY for anything that does not parse. Required-field presence is checked later, by the service. */
export function decodeCollection(body: Uint8Array, contentType: string | undefined): Collection {
  const format = bodyFormatOf(contentType);
  if (format === "protobuf") {
    try {
      return decodeCollectionBinary(body);
    } catch (error) {
      throw new FleetbeatError("MALFORMED_BODY", `protobuf: ${(error as Error).message}`);
    }
  }
  let json: JsonValue;
  try {
    json = JSON.parse(utf8.decode(body)) as JsonValue;
  } catch (error) {
    throw new FleetbeatError("MALFORMED_BODY", `JSON: ${(error as Error).message}`);
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new FleetbeatError("MALFORMED_BODY", "JSON: the body must be an object");
  }
  try {
    // Unknown keys are ignored: newer clients may send more than we know.
    return fromJson(CollectionSchema, json, { ignoreUnknownFields: true });
  } catch (error) {
    throw new FleetbeatError("MALFORMED_BODY", `JSON: ${(error as Error).message}`);
  }
}
