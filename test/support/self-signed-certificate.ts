import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { ExecutionContext } from "ava";

/** A key and self-signed certificate for `localhost` (openssl), removed after the test; `certPath` for NODE_EXTRA_CA_CERTS. */
export function selfSignedCertificate(t: ExecutionContext): { key: Buffer; cert: Buffer; certPath: string } {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), "iir-tls-"));
  t.teardown(() => fs.rmSync(directory, { recursive: true, force: true }));
  const certPath = path.join(directory, "cert.pem");
  const keyPath = path.join(directory, "key.pem");
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", keyPath, "-out", certPath, "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"], { stdio: "ignore" });
  return { key: fs.readFileSync(keyPath), cert: fs.readFileSync(certPath), certPath };
}
