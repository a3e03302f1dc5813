import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import type { ExecutionContext } from "ava";
import { temporaryDirectory } from "./process-fixtures.js";

/** PEM files of one certificate and its key. */
export interface CertificateFiles {
  readonly certPath: string;
  readonly keyPath: string;
}

/** A mesh's CA and a certificate it signed for this machine (localhost, 127.0.0.1), made with openssl. */
export interface MeshCertificates extends CertificateFiles {
  readonly caPath: string;
  /** The environment that turns mutual TLS on for a process of the mesh. */
  readonly env: Record<string, string>;
}

/** A CA of its own and a certificate it signed for localhost and 127.0.0.1; removed when the test ends. */
export function meshCertificates(t: ExecutionContext, name = "mesh"): MeshCertificates {
  const directory = temporaryDirectory(t, `iir-${name}-pki-`);
  const file = (base: string) => path.join(directory, base);
  const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "ignore" });
  openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", file("ca.key"), "-out", file("ca.pem"), "-days", "1", "-subj", `/CN=${name} test CA`);
  openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", file("node.key"), "-out", file("node.csr"), "-subj", `/CN=${name} node`);
  fs.writeFileSync(file("node.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n");
  openssl("x509", "-req", "-in", file("node.csr"), "-CA", file("ca.pem"), "-CAkey", file("ca.key"), "-CAcreateserial", "-out", file("node.pem"), "-days", "1", "-extfile", file("node.ext"));
  const files = { caPath: file("ca.pem"), certPath: file("node.pem"), keyPath: file("node.key") };
  return { ...files, env: { IIR_TLS_CERT: files.certPath, IIR_TLS_KEY: files.keyPath, IIR_TLS_CA: files.caPath } };
}
