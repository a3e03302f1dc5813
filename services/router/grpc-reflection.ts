import { toBinary } from "@bufbuild/protobuf";
import type { DescEnum, DescExtension, DescFile, DescMessage } from "@bufbuild/protobuf";
import type { GenFile } from "@bufbuild/protobuf/codegenv2";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { file_grpc_health_v1_health } from "../../gen/grpc/health/v1/health_pb.js";
import {
  ServerReflection as ServerReflectionV1,
  file_grpc_reflection_v1_reflection,
} from "../../gen/grpc/reflection/v1/reflection_pb.js";
import {
  ServerReflection as ServerReflectionV1Alpha,
  file_grpc_reflection_v1alpha_reflection,
} from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";

/** The two generations of gRPC server reflection; clients still ask for either. */
export interface ReflectionServices {
  /** Register with `router.service(ServerReflection, v1)` from grpc/reflection/v1. */
  readonly v1: ServiceImpl<typeof ServerReflectionV1>;
  /** Register with `router.service(ServerReflection, v1alpha)` from grpc/reflection/v1alpha. */
  readonly v1alpha: ServiceImpl<typeof ServerReflectionV1Alpha>;
}

// Status codes of the gRPC protocol, sent inside an ErrorResponse rather than as the call's status.
const invalidArgument = 3;
const notFound = 5;

/** A reflection request of either version: the two protos share their shape, field for field. */
interface ReflectionRequest {
  readonly messageRequest:
    | { case: "fileByFilename" | "fileContainingSymbol" | "allExtensionNumbersOfType" | "listServices"; value: string }
    | { case: "fileContainingExtension"; value: { containingType: string; extensionNumber: number } }
    | { case: undefined; value?: undefined };
}

/** The oneof of a reflection response of either version, as an init shape. */
type ReflectionAnswer =
  | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
  | { case: "allExtensionNumbersResponse"; value: { baseTypeName: string; extensionNumber: number[] } }
  | { case: "listServicesResponse"; value: { service: { name: string }[] } }
  | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } };

/** Every file reachable from the served ones, by file name and by the symbols each declares. */
interface DescriptorIndex {
  readonly services: readonly string[];
  readonly filesByName: ReadonlyMap<string, DescFile>;
  readonly filesBySymbol: ReadonlyMap<string, DescFile>;
  readonly messages: ReadonlyMap<string, DescMessage>;
  readonly extensions: readonly DescExtension[];
  /** The requested file first, then every file it imports, directly or not, as serialized descriptors. */
  withDependencies(file: DescFile): Uint8Array[];
}

/**
 * Creates gRPC server reflection (v1 and v1alpha) describing `files`, the health service and
 * reflection itself, so `buf curl`, grpcurl and Postman can list and call services without protos.
 */
export function createReflectionServices(files: readonly GenFile[]): ReflectionServices {
  const index = indexFiles([
    ...files,
    file_grpc_health_v1_health,
    file_grpc_reflection_v1_reflection,
    file_grpc_reflection_v1alpha_reflection,
  ]);
  return {
    v1: {
      async *serverReflectionInfo(requests) {
        for await (const request of requests) {
          yield { validHost: request.host, originalRequest: request, messageResponse: answer(index, request) };
        }
      },
    },
    v1alpha: {
      async *serverReflectionInfo(requests) {
        for await (const request of requests) {
          yield { validHost: request.host, originalRequest: request, messageResponse: answer(index, request) };
        }
      },
    },
  };
}

function answer(index: DescriptorIndex, request: ReflectionRequest): ReflectionAnswer {
  const { messageRequest } = request;
  switch (messageRequest.case) {
    case "listServices":
      return { case: "listServicesResponse", value: { service: index.services.map((name) => ({ name })) } };
    case "fileByFilename":
      return fileAnswer(index, index.filesByName.get(messageRequest.value), `file ${messageRequest.value}`);
    case "fileContainingSymbol":
      return fileAnswer(index, index.filesBySymbol.get(messageRequest.value), `symbol ${messageRequest.value}`);
    case "fileContainingExtension": {
      const { containingType, extensionNumber } = messageRequest.value;
      const extension = index.extensions.find(
        (candidate) => candidate.extendee.typeName === containingType && candidate.number === extensionNumber,
      );
      return fileAnswer(index, extension?.file, `extension ${extensionNumber} of ${containingType}`);
    }
    case "allExtensionNumbersOfType": {
      const message = index.messages.get(messageRequest.value);
      if (message === undefined) return errorAnswer(notFound, `type ${messageRequest.value} not found`);
      const numbers = index.extensions
        .filter((extension) => extension.extendee.typeName === message.typeName)
        .map((extension) => extension.number);
      return { case: "allExtensionNumbersResponse", value: { baseTypeName: message.typeName, extensionNumber: numbers } };
    }
    default:
      return errorAnswer(invalidArgument, "the request names no message_request");
  }
}

function fileAnswer(index: DescriptorIndex, file: DescFile | undefined, what: string): ReflectionAnswer {
  if (file === undefined) return errorAnswer(notFound, `${what} not found`);
  return { case: "fileDescriptorResponse", value: { fileDescriptorProto: index.withDependencies(file) } };
}

function errorAnswer(errorCode: number, errorMessage: string): ReflectionAnswer {
  return { case: "errorResponse", value: { errorCode, errorMessage } };
}

function indexFiles(roots: readonly DescFile[]): DescriptorIndex {
  const filesByName = new Map<string, DescFile>();
  const filesBySymbol = new Map<string, DescFile>();
  const messages = new Map<string, DescMessage>();
  const extensions: DescExtension[] = [];
  const services = new Set<string>();
  const visit = (file: DescFile): void => {
    if (filesByName.has(file.proto.name)) return;
    filesByName.set(file.proto.name, file);
    file.dependencies.forEach(visit);
    for (const service of file.services) {
      filesBySymbol.set(service.typeName, file);
      for (const method of service.methods) filesBySymbol.set(`${service.typeName}.${method.name}`, file);
    }
    for (const type of [...file.messages, ...file.enums]) indexType(type, file, { filesBySymbol, messages, extensions });
    indexExtensions(file.extensions, file, { filesBySymbol, messages, extensions });
  };
  roots.forEach(visit);
  for (const root of roots) for (const service of root.services) services.add(service.typeName);

  const serialized = new Map<DescFile, Uint8Array>();
  const bytesOf = (file: DescFile): Uint8Array => {
    let bytes = serialized.get(file);
    if (bytes === undefined) {
      bytes = toBinary(FileDescriptorProtoSchema, file.proto);
      serialized.set(file, bytes);
    }
    return bytes;
  };
  return {
    services: [...services].sort(),
    filesByName,
    filesBySymbol,
    messages,
    extensions,
    withDependencies(file) {
      const ordered = new Set<DescFile>();
      const collect = (next: DescFile): void => {
        if (ordered.has(next)) return;
        ordered.add(next);
        next.dependencies.forEach(collect);
      };
      collect(file);
      return [...ordered].map(bytesOf);
    },
  };
}

interface SymbolTables {
  readonly filesBySymbol: Map<string, DescFile>;
  readonly messages: Map<string, DescMessage>;
  readonly extensions: DescExtension[];
}

function indexType(type: DescMessage | DescEnum, file: DescFile, tables: SymbolTables): void {
  tables.filesBySymbol.set(type.typeName, file);
  if (type.kind === "enum") return;
  tables.messages.set(type.typeName, type);
  indexExtensions(type.nestedExtensions, file, tables);
  for (const nested of [...type.nestedMessages, ...type.nestedEnums]) indexType(nested, file, tables);
}

function indexExtensions(extensions: readonly DescExtension[], file: DescFile, tables: SymbolTables): void {
  for (const extension of extensions) {
    tables.filesBySymbol.set(extension.typeName, file);
    tables.extensions.push(extension);
  }
}
