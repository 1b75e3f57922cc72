// The reflection index on the generated descriptors: what each kind of request
// answers (files with their imports once per stream, every kind of symbol,
// extensions) and the in-stream errors for names it does not know.
import { create, fromBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { expect, it } from "vitest";
import { DeviceService } from "../../gen/fleetbeat/operator/v1/devices_pb.js";
import { HeartbeatService } from "../../gen/fleetbeat/heartbeat/v1/heartbeat_pb.js";
import { ServerReflectionRequestSchema, type ServerReflectionResponse } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { ReflectionIndex } from "./reflection.js";

const index = new ReflectionIndex([DeviceService, HeartbeatService]);
const ask = (messageRequest: MessageInitShape<typeof ServerReflectionRequestSchema>["messageRequest"], sent = new Set<string>()): ServerReflectionResponse =>
  index.answer(create(ServerReflectionRequestSchema, { host: "h", messageRequest }), sent);
const fileNames = (answer: ServerReflectionResponse): string[] =>
  answer.messageResponse.case === "fileDescriptorResponse" ? answer.messageResponse.value.fileDescriptorProto.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes).name) : [];
const errorOf = (answer: ServerReflectionResponse) => (answer.messageResponse.case === "errorResponse" ? answer.messageResponse.value : undefined);

it("lists the services it was given, sorted, and echoes the request", () => {
  const answer = ask({ case: "listServices", value: "*" });
  expect(answer.validHost).toBe("h");
  expect(answer.originalRequest?.messageRequest.case).toBe("listServices");
  expect(answer.messageResponse.case === "listServicesResponse" && answer.messageResponse.value.service.map((s) => s.name)).toEqual([
    "fleetbeat.heartbeat.v1.HeartbeatService",
    "fleetbeat.operator.v1.DeviceService",
  ]);
});

it("answers a file with its imports, transitively, and leaves out on the same stream what it sent before", () => {
  const sent = new Set<string>();
  const first = fileNames(ask({ case: "fileByFilename", value: "fleetbeat/operator/v1/devices.proto" }, sent));
  expect(first[0]).toBe("fleetbeat/operator/v1/devices.proto");
  expect(first).toEqual(expect.arrayContaining(["fleetbeat/operator/v1/commands.proto", "google/protobuf/timestamp.proto"]));
  expect(new Set(first).size).toBe(first.length);
  // commands.proto again: itself (asked), but not its imports already sent.
  expect(fileNames(ask({ case: "fileByFilename", value: "fleetbeat/operator/v1/commands.proto" }, sent))).toEqual(["fleetbeat/operator/v1/commands.proto"]);
});

it.each([
  ["a service", "fleetbeat.operator.v1.DeviceService"],
  ["a method", "fleetbeat.operator.v1.DeviceService.ListDevices"],
  ["a message", "fleetbeat.operator.v1.Device"],
  ["a field", "fleetbeat.operator.v1.Device.labels"],
  ["an enum", "fleetbeat.operator.v1.OnlineFilter"],
  ["an enum value (scoped beside its enum)", "fleetbeat.operator.v1.ONLINE_FILTER_ONLINE"],
  ["a name with a leading dot", ".fleetbeat.operator.v1.Device"],
])("finds the file declaring %s", (_kind, symbol) => {
  expect(fileNames(ask({ case: "fileContainingSymbol", value: symbol }))[0]).toBe("fleetbeat/operator/v1/devices.proto");
});

it("answers NOT_FOUND in the stream for unknown files, symbols and extensions; INVALID_ARGUMENT for an empty request", () => {
  expect(errorOf(ask({ case: "fileByFilename", value: "no/such.proto" }))?.errorCode).toBe(Code.NotFound);
  expect(errorOf(ask({ case: "fileContainingSymbol", value: "fleetbeat.operator.v1.Nope" }))?.errorCode).toBe(Code.NotFound);
  expect(errorOf(ask({ case: "fileContainingSymbol", value: "fleetbeat.operator.v1.Device.nope" }))?.errorCode).toBe(Code.NotFound);
  expect(errorOf(ask({ case: "fileContainingExtension", value: { containingType: "fleetbeat.operator.v1.Device", extensionNumber: 100 } }))?.errorCode).toBe(Code.NotFound);
  expect(errorOf(ask({ case: "allExtensionNumbersOfType", value: "fleetbeat.operator.v1.Nope" }))?.errorCode).toBe(Code.NotFound);
  expect(errorOf(ask({ case: undefined }))?.errorCode).toBe(Code.InvalidArgument);
});

it("answers the extension numbers of a known message (none here)", () => {
  const answer = ask({ case: "allExtensionNumbersOfType", value: "fleetbeat.operator.v1.Device" });
  expect(answer.messageResponse.case === "allExtensionNumbersResponse" && answer.messageResponse.value).toMatchObject({
    baseTypeName: "fleetbeat.operator.v1.Device",
    extensionNumber: [],
  });
});
