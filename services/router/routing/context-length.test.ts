import test from "ava";
import { Code, ConnectError } from "@connectrpc/connect";
import { upstreamConnectError } from "../../common/errors.js";
import { isContextLengthExceeded } from "./context-length.js";

const upstream = (code: Code, fields: { message: string; type?: string; code?: string }) =>
  upstreamConnectError(code, { httpStatus: 400, message: fields.message, type: fields.type ?? "invalid_request_error", param: "", code: fields.code ?? "", provider: "x" });

test("OpenAI's and the agent's code context_length_exceeded is recognised", (t) => {
  t.true(isContextLengthExceeded(upstream(Code.InvalidArgument, { message: "This model's maximum context length is 8 tokens.", code: "context_length_exceeded" })));
});

test("Anthropic's and Gemini's wording without a code is recognised", (t) => {
  t.true(isContextLengthExceeded(upstream(Code.InvalidArgument, { message: "prompt is too long: 210000 tokens > 200000 maximum" })));
  t.true(isContextLengthExceeded(upstream(Code.InvalidArgument, { message: "The input token count (1048577) exceeds the maximum number of tokens allowed (1048576)." })));
});

test("other bad requests and other codes are not", (t) => {
  t.false(isContextLengthExceeded(upstream(Code.InvalidArgument, { message: "temperature must be at most 2", code: "invalid_value" })));
  t.false(isContextLengthExceeded(upstream(Code.Unavailable, { message: "maximum context length exceeded", code: "context_length_exceeded" })));
  t.false(isContextLengthExceeded(new ConnectError("messages must not be empty", Code.InvalidArgument)));
});
