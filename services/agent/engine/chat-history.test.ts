import test from "ava";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { MessageSchema, Role } from "../../../gen/iir/inference/v1/inference_pb.js";
import { chatHistoryFromMessages } from "./chat-history.js";

const message = (init: MessageInitShape<typeof MessageSchema>) => create(MessageSchema, init);
const text = (role: Role, value: string) => message({ role, content: { case: "text", value } });

test("each role becomes the matching chat history turn, ending with an open model turn", (t) => {
  const history = chatHistoryFromMessages([
    text(Role.SYSTEM, "Be brief."),
    text(Role.DEVELOPER, "Answer in English."),
    text(Role.USER, "Hi"),
    text(Role.ASSISTANT, "Hello!"),
    text(Role.UNSPECIFIED, "And you?"),
  ]);
  t.deepEqual(history, [
    { type: "system", text: "Be brief." },
    { type: "system", text: "Answer in English." },
    { type: "user", text: "Hi" },
    { type: "model", response: ["Hello!"] },
    { type: "user", text: "And you?" },
    { type: "model", response: [] },
  ]);
});

test("no messages still give the generation prompt", (t) => {
  t.deepEqual(chatHistoryFromMessages([]), [{ type: "model", response: [] }]);
});

test("text parts are joined by newlines; other parts and empty text are left out", (t) => {
  const history = chatHistoryFromMessages([
    message({
      role: Role.USER,
      content: {
        case: "parts",
        value: {
          parts: [
            { part: { case: "text", value: "What is in" } },
            { part: { case: "imageUrl", value: { url: "https://example.com/cat.png" } } },
            { part: { case: "text", value: "" } },
            { part: { case: "text", value: "this picture?" } },
          ],
        },
      },
    }),
  ]);
  t.deepEqual(history[0], { type: "user", text: "What is in\nthis picture?" });
});

test("a message without content is an empty turn", (t) => {
  t.deepEqual(chatHistoryFromMessages([message({ role: Role.USER })])[0], { type: "user", text: "" });
});

test("a tool result is a user turn naming the call it answers", (t) => {
  const history = chatHistoryFromMessages([
    message({ role: Role.TOOL, toolCallId: "call_1", content: { case: "text", value: '{"temperature": 21}' } }),
    message({ role: Role.TOOL, content: { case: "text", value: "done" } }),
  ]);
  t.deepEqual(history.slice(0, 2), [
    { type: "user", text: 'Tool result (call_1): {"temperature": 21}' },
    { type: "user", text: "Tool result: done" },
  ]);
});

test("assistant tool calls are kept as text after the assistant's own text", (t) => {
  const history = chatHistoryFromMessages([
    message({
      role: Role.ASSISTANT,
      toolCalls: [
        { id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } },
        { id: "call_2", type: "function", function: { name: "get_time", arguments: "{}" } },
      ],
    }),
    message({
      role: Role.ASSISTANT,
      content: { case: "text", value: "Let me check." },
      toolCalls: [{ id: "call_3", type: "function", function: { name: "lookup", arguments: '{"q":1}' } }],
    }),
  ]);
  t.deepEqual(history.slice(0, 2), [
    { type: "model", response: ['get_weather({"city":"Paris"})\nget_time({})'] },
    { type: "model", response: ['Let me check.\nlookup({"q":1})'] },
  ]);
});

test("a text part carried as `other` for its extra fields (cache_control) keeps its text", (t) => {
  const history = chatHistoryFromMessages([
    message({
      role: Role.SYSTEM,
      content: {
        case: "parts",
        value: { parts: [{ part: { case: "other", value: { type: "text", text: "You are Claude Code.", cache_control: { type: "ephemeral" } } } }, { part: { case: "text", value: "Be brief." } }] },
      },
    }),
    text(Role.USER, "Hi"),
  ]);
  t.deepEqual(history[0], { type: "system", text: "You are Claude Code.\nBe brief." });
});
