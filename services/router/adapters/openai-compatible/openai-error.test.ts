import test from "ava";
import { Code } from "@connectrpc/connect";
import { findUpstreamError } from "../../../common/errors.js";
import { connectErrorFromUpstreamEvent, connectErrorFromUpstreamResponse, isUpstreamErrorEvent } from "./openai-error.js";

const apiKey = "sk-fake-test-key-000000";

test("OpenAI's error body keeps message, type, param and code; the status picks the Connect code", (t) => {
  const body = JSON.stringify({ error: { message: "Invalid 'temperature'", type: "invalid_request_error", param: "temperature", code: "invalid_value" } });
  const error = connectErrorFromUpstreamResponse(400, body, "openai");
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
    [401, Code.Unauthenticated],
    [403, Code.PermissionDenied],
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
    const error = connectErrorFromUpstreamResponse(status, '{"error":{"message":"m"}}', "p");
    t.is(error.code, code, `HTTP ${status}`);
    t.is(findUpstreamError(error)?.httpStatus, status);
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
  for (const [body, message] of shapes) t.is(connectErrorFromUpstreamResponse(503, body, "p").rawMessage, message, body);
  t.is(findUpstreamError(connectErrorFromUpstreamResponse(400, shapes[2]![0], "gemini"))?.code, "400", "a numeric code becomes its digits");
});

test("an HTML page is quoted but cut to a bounded length", (t) => {
  const page = `<html><body>${"<p>noise</p>".repeat(1000)}</body></html>`;
  const error = connectErrorFromUpstreamResponse(502, page, "p");
  t.true(error.rawMessage.startsWith("<html><body><p>noise</p>"));
  t.true(error.rawMessage.length <= 2001);
  t.true(error.rawMessage.endsWith("…"));
});

test("the upstream's key is blanked out of the message, also right where the message is cut", (t) => {
  const echoed = connectErrorFromUpstreamResponse(401, JSON.stringify({ error: { message: `Incorrect API key provided: ${apiKey}.` } }), "p", apiKey);
  t.is(echoed.rawMessage, "Incorrect API key provided: [redacted].");
  t.is(findUpstreamError(echoed)?.message, "Incorrect API key provided: [redacted].");

  const atTheCut = connectErrorFromUpstreamResponse(500, `${"x".repeat(1995)}${apiKey}`, "p", apiKey);
  t.false(atTheCut.rawMessage.includes(apiKey.slice(0, 5)), "no prefix of the key survives the cut");

  const event = connectErrorFromUpstreamEvent({ error: { message: `bad key ${apiKey}` } }, "p", apiKey);
  t.is(event.rawMessage, "bad key [redacted]");
});

test("error events mid-stream: a numeric code is the HTTP status, else the type picks the code", (t) => {
  const cases: [unknown, Code, number][] = [
    [{ error: { message: "m", code: 429 } }, Code.ResourceExhausted, 429],
    [{ error: { message: "m", code: "502" } }, Code.Unavailable, 502],
    [{ error: { message: "m", type: "invalid_request_error" } }, Code.InvalidArgument, 400],
    [{ error: { message: "m", type: "invalid_request_error", code: "context_length_exceeded" } }, Code.InvalidArgument, 400],
    [{ error: { message: "m", type: "tokens", code: "rate_limit_exceeded" } }, Code.ResourceExhausted, 429],
    [{ error: { message: "m", type: "authentication_error" } }, Code.Unauthenticated, 401],
    [{ error: { message: "m", type: "server_error" } }, Code.Unavailable, 503],
  ];
  for (const [event, code, httpStatus] of cases) {
    const error = connectErrorFromUpstreamEvent(event, "p");
    t.is(error.code, code, JSON.stringify(event));
    t.is(findUpstreamError(error)?.httpStatus, httpStatus, JSON.stringify(event));
    t.is(error.rawMessage, "m");
  }
  t.is(connectErrorFromUpstreamEvent({ error: {} }, "p").rawMessage, "upstream error");
});

test("only a present, non-null error field makes a chunk an error event", (t) => {
  t.true(isUpstreamErrorEvent({ error: { message: "m" } }));
  t.true(isUpstreamErrorEvent({ error: "m" }));
  t.false(isUpstreamErrorEvent({ error: null, choices: [] }));
  t.false(isUpstreamErrorEvent({ choices: [] }));
});
