import test from "ava";
import { Code } from "@connectrpc/connect";
import { findGatewayError, findUpstreamError } from "../../../common/errors.js";
import { connectErrorFromUpstreamEvent, connectErrorFromUpstreamResponse, isUpstreamErrorEvent } from "./openai-error.js";
import { upstreamErrorContext, type UpstreamErrorContext } from "../upstream/upstream-secrets.js";

const apiKey = "sk-fake-test-key-000000";
const plain: UpstreamErrorContext = { provider: "p", secrets: [] };
const keyed = upstreamErrorContext({ provider: "p", apiKey, baseUrl: "https://api.example.com/v1", credentialSource: "EXTERNAL_P_KEY" });

test("OpenAI's error body keeps message, type, param and code; the status picks the Connect code", (t) => {
  const body = JSON.stringify({ error: { message: "Invalid 'temperature'", type: "invalid_request_error", param: "temperature", code: "invalid_value" } });
  const error = connectErrorFromUpstreamResponse(400, body, { provider: "openai", secrets: [] });
  t.is(error.code, Code.InvalidArgument);
  t.is(error.rawMessage, "Invalid 'temperature'");
  t.deepEqual(
    { ...findUpstreamError(error) },
    { $typeName: "iir.inference.v1.UpstreamError", httpStatus: 400, message: "Invalid 'temperature'", type: "invalid_request_error", param: "temperature", code: "invalid_value", provider: "openai" },
  );
});

test("statuses map to the codes of the error table", (t) => {
  const cases: [number, Code][] = [
    [400, Code.InvalidArgument],
    [404, Code.NotFound],
    [408, Code.DeadlineExceeded],
    [413, Code.InvalidArgument],
    [422, Code.InvalidArgument],
    [429, Code.ResourceExhausted],
    [500, Code.Unavailable],
    [502, Code.Unavailable],
    [503, Code.Unavailable],
    [504, Code.DeadlineExceeded],
  ];
  for (const [status, code] of cases) {
    const error = connectErrorFromUpstreamResponse(status, '{"error":{"message":"m"}}', plain);
    t.is(error.code, code, `HTTP ${status}`);
    t.is(findUpstreamError(error)?.httpStatus, status);
  }
});

test("a provider's 401 or 403 is the gateway's 502 upstream_auth_error naming the provider and the variable, never its text", (t) => {
  for (const status of [401, 403]) {
    const body = JSON.stringify({ error: { message: `Incorrect API key provided: ${apiKey.slice(0, 6)}***0000.`, type: "invalid_request_error", code: "invalid_api_key" } });
    const error = connectErrorFromUpstreamResponse(status, body, keyed);
    t.is(error.code, Code.Unavailable, "Unavailable, so the router tries the next candidate");
    t.like(findGatewayError(error), { httpStatus: 502, type: "upstream_error", code: "upstream_auth_error", param: "" });
    t.is(findUpstreamError(error), undefined, "the provider's own error does not travel");
    t.regex(error.rawMessage, new RegExp(`^The provider 'p' refused IIR's credentials .*HTTP ${status}.*An operator should check EXTERNAL_P_KEY\\.$`));
    t.false(error.rawMessage.includes("Incorrect API key"));
  }
});

test("looser error shapes other servers use still give the provider's message", (t) => {
  const shapes: [string, string][] = [
    ['{"error":"model is loading","type":"unavailable"}', "model is loading"],
    ['{"message":"Bad Request: prompt too long","code":"context_length_exceeded"}', "Bad Request: prompt too long"],
    ['[{"error":{"code":400,"message":"API key not valid","status":"INVALID_ARGUMENT"}}]', "API key not valid"],
    ['  {"error":{"message":"with leading spaces"}}', "with leading spaces"],
    ["upstream connect error or disconnect/reset before headers", "upstream connect error or disconnect/reset before headers"],
    ["", "upstream answered HTTP 503"],
    ["{not json", "{not json"],
  ];
  for (const [body, message] of shapes) t.is(connectErrorFromUpstreamResponse(503, body, plain).rawMessage, message, body);
  t.is(findUpstreamError(connectErrorFromUpstreamResponse(400, shapes[2]![0], { provider: "gemini", secrets: [] }))?.code, "400", "a numeric code becomes its digits");
});

test("an HTML page is quoted but cut to a bounded length", (t) => {
  const page = `<html><body>${"<p>noise</p>".repeat(1000)}</body></html>`;
  const error = connectErrorFromUpstreamResponse(502, page, plain);
  t.true(error.rawMessage.startsWith("<html><body><p>noise</p>"));
  t.true(error.rawMessage.length <= 2001);
  t.true(error.rawMessage.endsWith("…"));
});

test("the upstream's key is blanked out of the message, also right where the message is cut", (t) => {
  const echoed = connectErrorFromUpstreamResponse(429, JSON.stringify({ error: { message: `Quota of ${apiKey} exceeded.` } }), keyed);
  t.is(echoed.rawMessage, "Quota of [redacted] exceeded.");
  t.is(findUpstreamError(echoed)?.message, "Quota of [redacted] exceeded.");

  const atTheCut = connectErrorFromUpstreamResponse(500, `${"x".repeat(1995)}${apiKey}`, keyed);
  t.false(atTheCut.rawMessage.includes(apiKey.slice(0, 5)), "no prefix of the key survives the cut");

  const event = connectErrorFromUpstreamEvent({ error: { message: `bad key ${apiKey}`, type: "server_error" } }, keyed);
  t.is(event.rawMessage, "bad key [redacted]");
});

test("Basic credentials of the base URL, encoded or decoded, are blanked out too", (t) => {
  const context = upstreamErrorContext({ provider: "p", apiKey: undefined, baseUrl: "http://proxy-user:pr0xy-pa55word@10.0.0.5:8080/v1" });
  const basic = Buffer.from("proxy-user:pr0xy-pa55word").toString("base64");
  const body = `denied: Authorization: Basic ${basic} (proxy-user:pr0xy-pa55word)`;
  const error = connectErrorFromUpstreamResponse(502, body, context);
  t.false(error.rawMessage.includes(basic));
  t.false(error.rawMessage.includes("pr0xy-pa55word"));
  t.regex(error.rawMessage, /^denied: Authorization: Basic \[redacted\]/);
});

test("error events mid-stream: a numeric code is the HTTP status, else the type picks the code", (t) => {
  const cases: [unknown, Code, number][] = [
    [{ error: { message: "m", code: 429 } }, Code.ResourceExhausted, 429],
    [{ error: { message: "m", code: "502" } }, Code.Unavailable, 502],
    [{ error: { message: "m", type: "invalid_request_error" } }, Code.InvalidArgument, 400],
    [{ error: { message: "m", type: "invalid_request_error", code: "context_length_exceeded" } }, Code.InvalidArgument, 400],
    [{ error: { message: "m", type: "tokens", code: "rate_limit_exceeded" } }, Code.ResourceExhausted, 429],
    [{ error: { message: "m", type: "server_error" } }, Code.Unavailable, 503],
  ];
  for (const [event, code, httpStatus] of cases) {
    const error = connectErrorFromUpstreamEvent(event, plain);
    t.is(error.code, code, JSON.stringify(event));
    t.is(findUpstreamError(error)?.httpStatus, httpStatus, JSON.stringify(event));
    t.is(error.rawMessage, "m");
  }
  t.is(connectErrorFromUpstreamEvent({ error: {} }, plain).rawMessage, "upstream error");
});

test("an authentication or permission error mid-stream is the gateway's upstream_auth_error too", (t) => {
  const events: unknown[] = [
    { error: { message: "m", code: 401 } },
    { error: { message: "m", code: "403" } },
    { error: { message: "m", type: "authentication_error" } },
    { error: { message: "m", type: "invalid_request_error", code: "invalid_api_key" } },
    { error: { message: "m", type: "permission_error" } },
  ];
  for (const event of events) {
    const error = connectErrorFromUpstreamEvent(event, keyed);
    t.is(error.code, Code.Unavailable, JSON.stringify(event));
    t.like(findGatewayError(error), { httpStatus: 502, code: "upstream_auth_error" }, JSON.stringify(event));
    t.not(error.rawMessage, "m");
  }
});

test("only a present, non-null error field makes a chunk an error event", (t) => {
  t.true(isUpstreamErrorEvent({ error: { message: "m" } }));
  t.true(isUpstreamErrorEvent({ error: "m" }));
  t.false(isUpstreamErrorEvent({ error: null, choices: [] }));
  t.false(isUpstreamErrorEvent({ choices: [] }));
});
