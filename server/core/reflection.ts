// gRPC server reflection (grpc.reflection.v1 and its first version v1alpha) on
// the server's one port, so that buf curl, grpcurl and the like list and call
// fleetbeat's methods without the .proto files (config.reflection, on by
// default; `--no-reflection` turns it off). Public like the protos themselves:
// it tells what the API is, never anything about the data behind it.
//
// The descriptors are the generated ones (gen/): every served service's file
// and its imports, collected once at start-up into one FileDescriptorSet and
// loaded with createFileRegistry (which also checks that the set is complete).
// Per request of the stream:
//   list_services              every service the server serves, reflection included;
//   file_by_filename           that file;
//   file_containing_symbol     the file declaring a service, method, message,
//                              field, oneof, enum, enum value or extension;
//   file_containing_extension  the file declaring that extension;
//   all_extension_numbers_of_type  the numbers of the known extensions of a message.
// A file answer carries the file and those of its imports, transitively, not yet
// sent on this stream (as grpc-go does): the client then holds a complete set. A
// name the server does not know is answered in the stream with error_response
// NOT_FOUND (5), a request naming nothing with INVALID_ARGUMENT (3); the stream
// goes on either way.
//
// v1alpha's messages are v1's under another package, with the same fields and
// numbers: a v1alpha request is re-read as v1 from its bytes, and the answer
// written back the same way, so both versions run one implementation.
import { create, createFileRegistry, fromBinary, toBinary, type DescFile, type DescService, type MessageInitShape } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import {
  ServerReflection,
  ServerReflectionRequestSchema,
  ServerReflectionResponseSchema,
  type ServerReflectionRequest,
  type ServerReflectionResponse,
} from "../../gen/grpc/reflection/v1/reflection_pb.js";
import {
  ServerReflection as ServerReflectionV1alpha,
  ServerReflectionRequestSchema as ServerReflectionRequestSchemaV1alpha,
  ServerReflectionResponseSchema as ServerReflectionResponseSchemaV1alpha,
  type ServerReflectionRequest as ServerReflectionRequestV1alpha,
  type ServerReflectionResponse as ServerReflectionResponseV1alpha,
} from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { registerService, type ServiceRegistration } from "./slice.js";

/** What the reflection service knows: built once from the served services' descriptors. */
export class ReflectionIndex {
  /** Full service names, sorted. */
  readonly serviceNames: readonly string[];
  /** Serialized FileDescriptorProto by file name ("fleetbeat/track/v1/collection.proto"). */
  private readonly serialized = new Map<string, Uint8Array>();
  /** Direct imports by file name. */
  private readonly imports = new Map<string, readonly string[]>();
  /** The declaring file of every symbol, by its full name. */
  private readonly symbols = new Map<string, string>();
  /** Full names of the message types. */
  private readonly messages = new Set<string>();
  /** Extension numbers by extended message, and the file declaring each. */
  private readonly extensions = new Map<string, Map<number, string>>();

  constructor(services: readonly DescService[]) {
    const files = filesInImportOrder(services.map((service) => service.file));
    const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: files }));
    for (const file of registry.files) {
      const name = file.proto.name;
      this.serialized.set(name, toBinary(FileDescriptorProtoSchema, file.proto));
      this.imports.set(name, file.dependencies.map((dependency) => dependency.proto.name));
    }
    for (const type of registry) {
      const file = type.file.proto.name;
      this.symbols.set(type.typeName, file);
      switch (type.kind) {
        case "service":
          for (const method of type.methods) this.symbols.set(`${type.typeName}.${method.name}`, file);
          break;
        case "message":
          this.messages.add(type.typeName);
          for (const field of type.fields) this.symbols.set(`${type.typeName}.${field.name}`, file);
          for (const oneof of type.oneofs) this.symbols.set(`${type.typeName}.${oneof.name}`, file);
          break;
        case "enum": {
          // Enum values are scoped like the enum itself, not inside it.
          const scope = type.typeName.slice(0, type.typeName.length - type.name.length);
          for (const value of type.values) this.symbols.set(`${scope}${value.name}`, file);
          break;
        }
        case "extension": {
          const numbers = this.extensions.get(type.extendee.typeName) ?? new Map<number, string>();
          numbers.set(type.number, file);
          this.extensions.set(type.extendee.typeName, numbers);
          break;
        }
      }
    }
    this.serviceNames = services.map((service) => service.typeName).sort();
  }

  /** Answers one request; `sent` holds the files already sent on this stream. */
  answer(request: ServerReflectionRequest, sent: Set<string>): ServerReflectionResponse {
    const answer = (messageResponse: MessageInitShape<typeof ServerReflectionResponseSchema>["messageResponse"]): ServerReflectionResponse =>
      create(ServerReflectionResponseSchema, { validHost: request.host, originalRequest: request, messageResponse });
    const error = (code: Code, message: string): ServerReflectionResponse =>
      answer({ case: "errorResponse", value: { errorCode: code, errorMessage: message } });
    const files = (file: string | undefined, what: string): ServerReflectionResponse =>
      file === undefined ? error(Code.NotFound, `${what} not found`) : answer({ case: "fileDescriptorResponse", value: { fileDescriptorProto: this.filesFrom(file, sent) } });

    const asked = request.messageRequest;
    switch (asked.case) {
      case "listServices":
        return answer({ case: "listServicesResponse", value: { service: this.serviceNames.map((name) => ({ name })) } });
      case "fileByFilename":
        return files(this.serialized.has(asked.value) ? asked.value : undefined, `file ${JSON.stringify(asked.value)}`);
      case "fileContainingSymbol":
        return files(this.symbols.get(stripLeadingDot(asked.value)), `symbol ${JSON.stringify(asked.value)}`);
      case "fileContainingExtension": {
        const { containingType, extensionNumber } = asked.value;
        const file = this.extensions.get(stripLeadingDot(containingType))?.get(extensionNumber);
        return files(file, `extension ${extensionNumber} of ${JSON.stringify(containingType)}`);
      }
      case "allExtensionNumbersOfType": {
        const typeName = stripLeadingDot(asked.value);
        if (!this.messages.has(typeName)) return error(Code.NotFound, `message type ${JSON.stringify(asked.value)} not found`);
        const numbers = [...(this.extensions.get(typeName)?.keys() ?? [])].sort((a, b) => a - b);
        return answer({ case: "allExtensionNumbersResponse", value: { baseTypeName: typeName, extensionNumber: numbers } });
      }
      default:
        return error(Code.InvalidArgument, "the request names nothing to look up (message_request is not set)");
    }
  }

  /** `name` (always) and its imports, transitively, that this stream has not been sent yet. */
  private filesFrom(name: string, sent: Set<string>): Uint8Array[] {
    const out: Uint8Array[] = [];
    const visit = (file: string, asked: boolean): void => {
      if (!asked && sent.has(file)) return;
      sent.add(file);
      out.push(this.serialized.get(file) as Uint8Array);
      for (const dependency of this.imports.get(file) ?? []) visit(dependency, false);
    };
    visit(name, true);
    return out;
  }
}

/** The reflection services (v1 and v1alpha) for a server serving `services` (and these two). */
export function createReflectionServices(services: readonly DescService[]): ServiceRegistration[] {
  const index = new ReflectionIndex([...services, ServerReflection, ServerReflectionV1alpha]);
  return [
    registerService({
      service: ServerReflection,
      access: { kind: "device" },
      implementation: {
        async *serverReflectionInfo(requests: AsyncIterable<ServerReflectionRequest>): AsyncIterable<ServerReflectionResponse> {
          const sent = new Set<string>();
          for await (const request of requests) yield index.answer(request, sent);
        },
      },
    }),
    registerService({
      service: ServerReflectionV1alpha,
      access: { kind: "device" },
      implementation: {
        async *serverReflectionInfo(requests: AsyncIterable<ServerReflectionRequestV1alpha>): AsyncIterable<ServerReflectionResponseV1alpha> {
          const sent = new Set<string>();
          for await (const request of requests) {
            const answer = index.answer(fromBinary(ServerReflectionRequestSchema, toBinary(ServerReflectionRequestSchemaV1alpha, request)), sent);
            yield fromBinary(ServerReflectionResponseSchemaV1alpha, toBinary(ServerReflectionResponseSchema, answer));
          }
        },
      },
    }),
  ];
}

function stripLeadingDot(name: string): string {
  return name.startsWith(".") ? name.slice(1) : name;
}

/** The files of `roots` and all their imports, each once, every file after its imports. */
function filesInImportOrder(roots: readonly DescFile[]): FileDescriptorProto[] {
  const ordered: FileDescriptorProto[] = [];
  const seen = new Set<string>();
  const visit = (file: DescFile): void => {
    if (seen.has(file.proto.name)) return;
    seen.add(file.proto.name);
    for (const dependency of file.dependencies) visit(dependency);
    ordered.push(file.proto);
  };
  for (const root of roots) visit(root);
  return ordered;
}
