import fs from "node:fs";
import test from "ava";
import OpenAI from "openai";
import { ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Health } from "../gen/grpc/health/v1/health_pb.js";
import { InferenceService, Role } from "../gen/iir/inference/v1/inference_pb.js";
import { startFacade } from "../facade/server.js";
import { loadConfig } from "../services/common/config.js";
import { createLogger } from "../services/common/logger.js";
import { createMeshTransport } from "../services/common/mesh-transport.js";
import { startRouter } from "../services/router/server.js";
import { startTestAgent } from "./support/agent-fixtures.js";
import { meshCertificates } from "./support/mesh-certificates.js";
import { temporaryDirectory } from "./support/process-fixtures.js";

// Mutual TLS on every hop of a split mesh: facade → router, agent → router, router → agent, with
// certificates one CA signed (openssl). Callers without such a certificate do not get past the handshake.

test("facade, router and agent speak mutual TLS on every hop; callers without the mesh's certificate are refused", async (t) => {
  const pki = meshCertificates(t);
  const rogue = meshCertificates(t, "rogue");
  const logger = createLogger({ level: "silent", name: "test" });
  const config = loadConfig({
    IIR_HOST: "127.0.0.1",
    IIR_FACADE_PORT: "0",
    IIR_ROUTER_PORT: "0",
    SQLITE_DB_PATH: `${temporaryDirectory(t)}/iir.db`,
    LOG_LEVEL: "silent",
    HEARTBEAT_INTERVAL: "1",
    ...pki.env,
  });
  const router = await startRouter(config, logger);
  t.teardown(() => router.close(1000));
  const routerUrl = `https://127.0.0.1:${router.port}`;
  const agent = await startTestAgent(routerUrl, pki.env);
  t.teardown(() => agent.close(1000));
  t.regex(agent.address, /^https:\/\//, "an agent serving TLS advertises an https address");
  const facade = await startFacade({ config, transport: createMeshTransport(routerUrl, { tls: config.tls }), logger });
  t.teardown(() => facade.close(1000));

  const client = new OpenAI({ baseURL: `http://127.0.0.1:${facade.port}/v1`, apiKey: "unused", maxRetries: 0 });
  const answer = await client.chat.completions.create({ model: agent.modelId, messages: [{ role: "user", content: "hi" }], max_tokens: 2 });
  t.is(answer.choices.length, 1, "facade → router → agent, each hop over mutual TLS");

  const ca = fs.readFileSync(pki.caPath);
  const health = (nodeOptions: Record<string, unknown>, url = routerUrl) => createClient(Health, createGrpcTransport({ baseUrl: url, nodeOptions })).check({ service: "" }, { timeoutMs: 5000 });
  const withoutCertificate = ConnectError.from(await t.throwsAsync(health({ ca })));
  t.regex(withoutCertificate.message, /certificate required/);
  await t.throwsAsync(health({ ca, cert: fs.readFileSync(rogue.certPath), key: fs.readFileSync(rogue.keyPath) }), undefined, "another CA's certificate is refused");
  await t.throwsAsync(createClient(Health, createGrpcTransport({ baseUrl: `http://127.0.0.1:${router.port}` })).check({ service: "" }, { timeoutMs: 5000 }), undefined, "plain h2c does not reach a TLS port");
  t.is((await health({ ca, cert: fs.readFileSync(pki.certPath), key: fs.readFileSync(pki.keyPath) })).status, 1, "a member of the mesh is served");

  // A member's certificate stands in for the agent token: the agent serves it, and nothing else.
  const member = createClient(InferenceService, createMeshTransport(agent.address, { tls: config.tls }));
  const direct = await member.chat({ params: { model: agent.modelId, messages: [{ role: Role.USER, content: { case: "text", value: "hi" } }], maxTokens: 2 } });
  t.is(direct.backend, agent.id);
  const stranger = ConnectError.from(await t.throwsAsync(health({ ca }, agent.address)));
  t.regex(stranger.message, /certificate required/);
});
