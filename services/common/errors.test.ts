import test from "ava";
import { Code, ConnectError } from "@connectrpc/connect";
import { connectErrorFromNodeError, describeNetworkError, describeNodeError, nodeErrorCode } from "./errors.js";

function nodeError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

test("a Node network error becomes a Connect code with words from its code, never Node's message (it names the address)", (t) => {
  const refused = connectErrorFromNodeError(nodeError("connect ECONNREFUSED 10.0.0.5:443", "ECONNREFUSED"), "openai upstream is unreachable");
  t.is(refused.code, Code.Unavailable);
  t.is(refused.rawMessage, "openai upstream is unreachable: connection refused (ECONNREFUSED)");

  const timedOut = connectErrorFromNodeError(nodeError("connect ETIMEDOUT 10.0.0.5:443", "ETIMEDOUT"), "x");
  t.is(timedOut.code, Code.DeadlineExceeded);
  t.false(timedOut.rawMessage.includes("10.0.0.5"));

  const tls = connectErrorFromNodeError(nodeError("Hostname/IP does not match certificate's altnames: Host: llm.internal.corp", "ERR_TLS_CERT_ALTNAME_INVALID"), "x");
  t.is(tls.rawMessage, "x: TLS certificate does not match the host (ERR_TLS_CERT_ALTNAME_INVALID)");

  const unknown = connectErrorFromNodeError(new Error("getaddrinfo failed for secret.internal"), "x");
  t.is(unknown.rawMessage, "x: network error");
  t.is(unknown.code, Code.Unavailable);
});

test("an abort is Canceled and a ConnectError passes through as it is", (t) => {
  const abort = Object.assign(new Error("This operation was aborted"), { name: "AbortError" });
  t.is(connectErrorFromNodeError(abort, "x").code, Code.Canceled);
  const own = new ConnectError("kept", Code.ResourceExhausted);
  t.is(connectErrorFromNodeError(own, "x"), own);
});

test("the code is found along the cause chain, and only when it is a constant identifier", (t) => {
  const wrapped = new Error("fetch failed", { cause: nodeError("connect ECONNREFUSED 127.0.0.1:1", "ECONNREFUSED") });
  t.is(nodeErrorCode(wrapped), "ECONNREFUSED");
  t.is(describeNodeError(wrapped), "connection refused (ECONNREFUSED)");
  t.is(nodeErrorCode(nodeError("x", "not a code: 10.0.0.5")), undefined);
  t.is(nodeErrorCode(Object.assign(new Error("x"), { code: 42 })), undefined);
  t.is(describeNodeError(nodeError("x", "ERR_SSL_WRONG_VERSION_NUMBER")), "TLS handshake failed (ERR_SSL_WRONG_VERSION_NUMBER)");
  t.is(describeNodeError(new Error("ours")), undefined);
});

test("describeNetworkError describes failures to reach a peer and nothing else", (t) => {
  t.is(describeNetworkError(new Error("x", { cause: nodeError("connect ECONNREFUSED 10.0.0.5:1", "ECONNREFUSED") })), "connection refused (ECONNREFUSED)");
  t.is(describeNetworkError(nodeError("x", "ERR_HTTP2_GOAWAY_SESSION")), "network error (ERR_HTTP2_GOAWAY_SESSION)");
  t.is(describeNetworkError(nodeError("database is locked", "SQLITE_BUSY")), undefined);
  t.is(describeNetworkError(undefined), undefined);
});
