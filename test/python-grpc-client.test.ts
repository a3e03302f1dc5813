import fs from "node:fs";
import path from "node:path";
import test, { type ExecutionContext } from "ava";
import { callWithPython, generatePythonStubs, pythonGrpcMissing } from "./support/python-stubs.js";
import { startTestRouter } from "./support/router-fixture.js";
import { adminHeaders } from "./support/admin.js";

const missing = await pythonGrpcMissing();
if (missing !== undefined && process.env.CI_REQUIRE_SERVICES !== "1") {
  console.error(`\n!!! SKIPPING Python gRPC client tests: ${missing}\n`);
}

/** Registers a test that needs Python grpcio: loudly skipped here without it, failed in CI. */
function pythonTest(title: string, body: (t: ExecutionContext) => Promise<void>): void {
  if (missing === undefined) {
    test(title, body);
  } else if (process.env.CI_REQUIRE_SERVICES === "1") {
    test(title, (t) => t.fail(`Python gRPC is required in CI: ${missing}`));
  } else {
    test.skip(`${title} (needs Python grpcio: ${missing})`, () => {});
  }
}

/** Where this file's clients reach a fresh real router. */
async function routerTarget(t: ExecutionContext): Promise<string> {
  return `127.0.0.1:${(await startTestRouter(t)).port}`;
}

pythonTest("python grpcio: buf generates the stubs from proto/", async (t) => {
  const stubs = await generatePythonStubs();
  for (const file of ["iir/inference/v1/inference_pb2.py", "iir/inference/v1/inference_pb2_grpc.py", "grpc/health/v1/health_pb2_grpc.py"]) {
    t.true(fs.existsSync(path.join(stubs, file)), `${file} generated`);
  }
});

pythonTest("python grpcio: health check says SERVING", async (t) => {
  const target = await routerTarget(t);
  t.deepEqual(await callWithPython(target, "grpc.health.v1.Health/Check", {}), [{ message: { status: "SERVING" } }]);
});

pythonTest("python grpcio: ListModels shows a model registered through RegistryService", async (t) => {
  const target = await routerTarget(t);
  t.deepEqual(await callWithPython(target, "iir.inference.v1.InferenceService/ListModels", {}), [{ message: {} }]);
  const model = { name: "llama-70b", provider: "groq", baseUrl: "https://api.groq.com/openai/v1", contextLength: 8192, enabled: true };
  const [upserted] = await callWithPython(target, "iir.registry.v1.RegistryService/UpsertModel", { model }, { metadata: adminHeaders });
  t.like(upserted?.message, { model });
  const [listed] = await callWithPython(target, "iir.inference.v1.InferenceService/ListModels", {});
  t.like(listed?.message, { models: [{ id: "llama-70b", provider: "groq", ownedBy: "groq", contextLength: 8192 }] });
});

pythonTest("python grpcio: ChatStream on an unknown model ends with NOT_FOUND and no messages", async (t) => {
  const target = await routerTarget(t);
  const request = { params: { model: "no-such-model", messages: [{ role: "ROLE_USER", text: "hello" }] } };
  const lines = await callWithPython(target, "iir.inference.v1.InferenceService/ChatStream", request);
  t.is(lines.length, 1, JSON.stringify(lines));
  t.is(lines[0]?.error?.code, "NOT_FOUND");
  t.regex(lines[0]?.error?.details ?? "", /no-such-model/);
});
