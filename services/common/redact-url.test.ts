import test from "ava";
import { redactAddresses, redactUrl, redactUrlCredentialsIn, urlCredentials } from "./redact-url.js";

test("redactUrl hides the user, the password and credential-like query values, keeping where it points", (t) => {
  t.is(redactUrl("redis://:s3cret@cache.internal:6379/0"), "redis://***@cache.internal:6379/0");
  t.is(redactUrl("https://alice:s3cret@api.example.com/v1"), "https://***@api.example.com/v1");
  t.is(redactUrl("https://token-only@api.example.com/v1"), "https://***@api.example.com/v1");
  t.is(redactUrl("https://x.openai.azure.com/openai?api-version=2024-06-01&api-key=abc"), "https://x.openai.azure.com/openai?api-version=2024-06-01&api-key=***");
  t.is(redactUrl("http://127.0.0.1:8080/v1"), "http://127.0.0.1:8080/v1");
  t.is(redactUrl("not a url", "upstream"), "upstream");
});

test("redactUrlCredentialsIn blanks the credentials of every URL in a text, and only those", (t) => {
  t.is(
    redactUrlCredentialsIn('base_url must be an http(s) URL, got "ftp://user:secret@host/x" (see http://a:b@c)'),
    'base_url must be an http(s) URL, got "ftp://***@host/x" (see http://***@c)',
  );
  t.is(redactUrlCredentialsIn("mail ops@example.com about http://host/path"), "mail ops@example.com about http://host/path");
});

test("redactAddresses replaces URLs and IP addresses with ports", (t) => {
  t.is(redactAddresses("connect ECONNREFUSED 10.0.0.5:50061"), "connect ECONNREFUSED [address]");
  t.is(redactAddresses("no route to http://agent-7.internal:50061/x or [::1]:50061"), "no route to [address] or [address]");
  t.is(redactAddresses("model is loading"), "model is loading");
});

test("urlCredentials lists every form a server may echo: raw, decoded, user:password and its Basic base64", (t) => {
  const forms = urlCredentials("http://us%40er:p%3Ass@host/v1");
  t.true(forms.includes("us@er:p:ss"));
  t.true(forms.includes("us%40er:p%3Ass"));
  t.true(forms.includes(Buffer.from("us@er:p:ss").toString("base64")));
  t.true(forms.includes("p:ss"));
  t.true(forms.includes("p%3Ass"));
  t.false(forms.includes("us@er"), "with a password, the user name is an account name, not the secret");
  t.true(urlCredentials("https://tok3n@host").includes("tok3n"), "without a password the user name is the secret");
  t.deepEqual(urlCredentials("https://host/v1"), []);
  t.deepEqual(urlCredentials("::"), []);
});
