import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import test, { type ExecutionContext } from "ava";
import { create, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { createClient, createRouterTransport } from "@connectrpc/connect";
import {
  ExtensionRequestSchema,
  ServerReflection,
  type ServerReflectionRequest,
  type ServerReflectionResponse,
} from "../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ServerReflectionV1Alpha } from "../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { createReflectionServices } from "../services/router/grpc-reflection.js";
import { routerFiles } from "../services/router/server.js";
import { startTestRouter } from "./support/router-fixture.js";
import { adminHeaders } from "./support/admin.js";

const run = promisify(execFile);
const buf = path.resolve("node_modules", ".bin", "buf");

/** Where this file's clients reach a fresh real router. */
async function routerUrl(t: ExecutionContext): Promise<string> {
  return `http://127.0.0.1:${(await startTestRouter(t)).port}`;
}

/** Runs `buf curl` over h2c, as a developer would; the schema comes from server reflection. */
async function bufCurl(...args: string[]): Promise<string> {
  const { stdout } = await run(buf, ["curl", "--http2-prior-knowledge", ...args], { timeout: 30_000 });
  return stdout;
}

/** Sends requests one after another on one v1 reflection stream, as grpcurl does. */
async function reflect(requests: Array<ServerReflectionRequest["messageRequest"]>): Promise<ServerReflectionResponse[]> {
  const transport = createRouterTransport((router) => {
    router.service(ServerReflection, createReflectionServices([...routerFiles]).v1);
  });
  const client = createClient(ServerReflection, transport);
  async function* stream() {
    for (const messageRequest of requests) yield { host: "localhost", messageRequest };
  }
  const responses: ServerReflectionResponse[] = [];
  for await (const response of client.serverReflectionInfo(stream())) responses.push(response);
  return responses;
}

function fileNames(response: ServerReflectionResponse | undefined): string[] {
  if (response?.messageResponse.case !== "fileDescriptorResponse") return [];
  return response.messageResponse.value.fileDescriptorProto.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes).name);
}

test("buf curl lists every service of the router through reflection", async (t) => {
  const url = await routerUrl(t);
  const services = (await bufCurl("--list-services", url)).trim().split("\n");
  for (const name of [
    "iir.inference.v1.InferenceService",
    "iir.registry.v1.RegistryService",
    "iir.heartbeat.v1.HeartbeatService",
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
  ]) {
    t.true(services.includes(name), `${name} listed in ${JSON.stringify(services)}`);
  }
  const alpha = await bufCurl("--reflect-protocol", "grpc-v1alpha", "--list-services", url);
  t.regex(alpha, /^iir\.inference\.v1\.InferenceService$/m, "the v1alpha reflection answers too");
  t.regex(await bufCurl("--list-methods", url), /^iir\.inference\.v1\.InferenceService\/ChatStream$/m);
});

test("buf curl calls methods with the schema it learned by reflection", async (t) => {
  const url = await routerUrl(t);
  const health = JSON.parse(await bufCurl("--data", "{}", `${url}/grpc.health.v1.Health/Check`)) as unknown;
  t.deepEqual(health, { status: "SERVING" });

  const upsert = { model: { name: "llama-70b", provider: "groq", baseUrl: "https://api.groq.com/openai/v1", enabled: true } };
  await bufCurl("--protocol", "grpc", "-H", `authorization: ${adminHeaders.authorization}`, "--data", JSON.stringify(upsert), `${url}/iir.registry.v1.RegistryService/UpsertModel`);
  const listed = JSON.parse(await bufCurl("--data", "{}", `${url}/iir.inference.v1.InferenceService/ListModels`)) as {
    models?: Array<{ id: string; provider: string }>;
  };
  t.deepEqual(listed.models?.map(({ id, provider }) => ({ id, provider })), [{ id: "llama-70b", provider: "groq" }]);
});

test("buf curl shows the router's InvalidArgument for a chat without messages", async (t) => {
  const url = await routerUrl(t);
  const data = JSON.stringify({ params: { model: "llama-70b" } });
  const error = await t.throwsAsync(bufCurl("--data", data, `${url}/iir.inference.v1.InferenceService/Chat`));
  const stderr = String((error as Error & { stderr?: string }).stderr);
  t.regex(stderr, /invalid_argument/);
  t.regex(stderr, /params\.messages must contain at least one message/);
});

test("symbols and files resolve to their file followed by its imports", async (t) => {
  const responses = await reflect([
    { case: "fileContainingSymbol", value: "iir.inference.v1.InferenceService" },
    { case: "fileContainingSymbol", value: "iir.inference.v1.InferenceService.ChatStream" },
    { case: "fileContainingSymbol", value: "iir.inference.v1.Role" },
    { case: "fileByFilename", value: "iir/registry/v1/registry.proto" },
    { case: "fileContainingSymbol", value: "grpc.health.v1.HealthCheckResponse.ServingStatus" },
    { case: "fileByFilename", value: "google/protobuf/struct.proto" },
  ]);
  const inference = ["iir/inference/v1/inference.proto", "google/protobuf/struct.proto"];
  t.deepEqual(fileNames(responses[0]), inference);
  t.deepEqual(fileNames(responses[1]), inference, "a method resolves to its service's file");
  t.deepEqual(fileNames(responses[2]), inference, "an enum resolves too");
  t.is(fileNames(responses[3])[0], "iir/registry/v1/registry.proto");
  t.deepEqual(fileNames(responses[4]), ["grpc/health/v1/health.proto"], "nested types resolve");
  t.deepEqual(fileNames(responses[5]), ["google/protobuf/struct.proto"], "imports are served by name");
  t.is(responses[0]?.validHost, "localhost");
  t.is(responses[0]?.originalRequest?.messageRequest.case, "fileContainingSymbol");
});

test("unknown symbols, files and extensions are NOT_FOUND answers on a stream that stays open", async (t) => {
  const responses = await reflect([
    { case: "fileContainingSymbol", value: "iir.inference.v1.NoSuchThing" },
    { case: "fileByFilename", value: "nope.proto" },
    { case: "fileContainingExtension", value: create(ExtensionRequestSchema, { containingType: "iir.inference.v1.ChatParams", extensionNumber: 100 }) },
    { case: "allExtensionNumbersOfType", value: "iir.inference.v1.ChatParams" },
    { case: "listServices", value: "" },
  ]);
  for (const response of responses.slice(0, 3)) {
    t.is(response.messageResponse.case, "errorResponse");
    if (response.messageResponse.case === "errorResponse") t.is(response.messageResponse.value.errorCode, 5);
  }
  t.like(responses[3]?.messageResponse, {
    case: "allExtensionNumbersResponse",
    value: { baseTypeName: "iir.inference.v1.ChatParams", extensionNumber: [] },
  });
  t.is(responses[4]?.messageResponse.case, "listServicesResponse", "the stream goes on after errors");
});

test("v1alpha reflection lists the same services", async (t) => {
  const transport = createRouterTransport((router) => {
    router.service(ServerReflectionV1Alpha, createReflectionServices([...routerFiles]).v1alpha);
  });
  const client = createClient(ServerReflectionV1Alpha, transport);
  async function* one() {
    yield { messageRequest: { case: "listServices" as const, value: "*" } };
  }
  const names: string[] = [];
  for await (const response of client.serverReflectionInfo(one())) {
    if (response.messageResponse.case === "listServicesResponse") names.push(...response.messageResponse.value.service.map((s) => s.name));
  }
  t.deepEqual(names, [
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
    "iir.heartbeat.v1.HeartbeatService",
    "iir.inference.v1.InferenceService",
    "iir.registry.v1.RegistryService",
  ]);
});
