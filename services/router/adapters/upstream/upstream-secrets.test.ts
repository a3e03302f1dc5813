import test from "ava";
import { redactSecrets, upstreamErrorContext } from "./upstream-secrets.js";

test("the context holds the key and the base URL's credentials in every form, longest first", (t) => {
  const context = upstreamErrorContext({ provider: "openai", apiKey: "sk-0123456789", baseUrl: "https://u:p4ssw0rd-long@h/v1", credentialSource: "EXTERNAL_OPENAI_KEY" });
  t.is(context.provider, "openai");
  t.is(context.credentialSource, "EXTERNAL_OPENAI_KEY");
  for (const secret of ["sk-0123456789", "u:p4ssw0rd-long", "p4ssw0rd-long", Buffer.from("u:p4ssw0rd-long").toString("base64")]) {
    t.true(context.secrets.includes(secret), secret);
  }
  const lengths = context.secrets.map((secret) => secret.length);
  t.deepEqual(lengths, [...lengths].sort((left, right) => right - left));
});

test("long secrets are cut out; a short one withholds the whole message rather than leave it", (t) => {
  t.is(redactSecrets("key sk-0123456789 is bad", ["sk-0123456789"]), "key [redacted] is bad");
  const short = redactSecrets("Incorrect API key provided: abc1. See the docs.", ["abc1"]);
  t.false(short.includes("abc1"));
  t.regex(short, /withheld/);
  t.is(redactSecrets("nothing to hide", ["abc1", "sk-0123456789"]), "nothing to hide");
});

test("any echoed Bearer token or Basic credential is blanked, but the words stay words", (t) => {
  const basic = Buffer.from("someone:else").toString("base64");
  t.is(redactSecrets(`got Authorization: Bearer sk-proj-abcdefgh1234`, []), "got Authorization: Bearer [redacted]");
  t.is(redactSecrets(`got Basic ${basic}`, []), "got Basic [redacted]");
  t.is(redactSecrets("Basic authentication is not supported", []), "Basic authentication is not supported");
  t.is(redactSecrets("Basic plan users may not use this model", []), "Basic plan users may not use this model");
});
