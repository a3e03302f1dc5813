import test from "ava";
import { Code, ConnectError } from "@connectrpc/connect";
import { gatewayConnectError } from "../services/common/errors.js";
import { errorAnswerFromConnectError } from "./errors.js";

test("a provider's refusal of IIR's credentials is the gateway's 502 with OpenAI's error fields", (t) => {
  const error = gatewayConnectError(Code.Unavailable, "The provider 'openai' refused IIR's credentials for it (HTTP 401).", { httpStatus: 502, type: "upstream_error", code: "upstream_auth_error" });
  t.deepEqual(errorAnswerFromConnectError(error), {
    status: 502,
    body: { error: { message: "The provider 'openai' refused IIR's credentials for it (HTTP 401).", type: "upstream_error", param: null, code: "upstream_auth_error" } },
  });
});

test("a transport failure reaching the router names the router, never its address", (t) => {
  const cause = Object.assign(new Error("connect ECONNREFUSED 10.1.2.3:50051"), { code: "ECONNREFUSED" });
  const error = new ConnectError("connect ECONNREFUSED 10.1.2.3:50051", Code.Unavailable, undefined, undefined, cause);
  const answer = errorAnswerFromConnectError(error);
  t.is(answer.status, 503);
  t.is(answer.body.error.message, "the router is unreachable: connection refused (ECONNREFUSED)");
  const reset = new ConnectError("read ECONNRESET", Code.Aborted, undefined, undefined, Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }));
  t.is(errorAnswerFromConnectError(reset).status, 503, "a connection reset is the router being unavailable, not a 409");
});

test("credentials of a URL a message quotes never reach the client", (t) => {
  const error = new ConnectError("model 'x' cannot reach http://svc:hunter22@10.0.0.1/v1", Code.FailedPrecondition);
  t.is(errorAnswerFromConnectError(error).body.error.message, "model 'x' cannot reach http://***@10.0.0.1/v1");
});
