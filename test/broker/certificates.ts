import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { onCleanup } from "./helpers.js";

/**
 * Node can read certificates but not issue them, so the self-signed one comes
 * from the openssl binary; without it these tests are skipped (and say why).
 */
export const hasOpenssl = spawnSync("openssl", ["version"]).status === 0;

/** A self-signed certificate for 127.0.0.1 in a fresh directory, removed after the test. */
export function selfSignedCertificate(): { certFile: string; keyFile: string } {
  const dir = mkdtempSync(join(tmpdir(), "tether-tls-"));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const certFile = join(dir, "cert.pem");
  const keyFile = join(dir, "key.pem");
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      keyFile,
      "-out",
      certFile,
      "-days",
      "1",
      "-subj",
      "/CN=tether-test",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
    ],
    { stdio: "ignore" },
  );
  return { certFile, keyFile };
}
