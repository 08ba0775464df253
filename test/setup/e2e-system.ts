/**
 * vitest global setup of the "e2e" project: ONE real system (broker process + edge on
 * workerd) shared by every end-to-end file that asks for it with `E2ESystem.shared()`.
 * Starting wrangler costs seconds of CPU on a 2-core machine; each file paying it again
 * would cost the suite more than all its tests. Files keep apart by device ids.
 *
 * The system starts on the first request, not here: a run of only the launcher's test
 * (which starts its own) never pays for it. Test files live in worker processes, so this
 * process owns the system and hands it out over a loopback endpoint (its URL in
 * TETHER_E2E_SYSTEM_URL); the endpoint answers once the system is up, or with the error.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import {
  type OwnedSystem,
  SHARED_SYSTEM_ENV,
  type SystemHandle,
  startOwnedSystem,
} from "../e2e/system-fixture.js";
import { requireTools, TOOLS } from "./prerequisites.js";

export default async function setupSharedSystem(): Promise<() => Promise<void>> {
  // The browser test runs Debian's Chromium; on macOS it is skipped (test/e2e/start.test.ts).
  if (process.platform === "linux") requireTools([TOOLS.chromium]);

  let starting: Promise<OwnedSystem> | undefined;
  let owned: OwnedSystem | undefined;
  // Ctrl-C: vitest exits without tearing down; the children would get SIGTERM from the
  // kernel (dieWithParent), but the temp directories need this.
  const onExit = () => owned?.kill();
  process.once("exit", onExit);

  const server = createServer((request, response) => {
    if (request.url !== "/system") {
      response.writeHead(404).end();
      return;
    }
    starting ??= startOwnedSystem().then((system) => {
      owned = system;
      return system;
    });
    starting.then(
      (system) => {
        const handle: SystemHandle = { urls: system.urls, secrets: system.secrets };
        response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(handle));
      },
      (error: unknown) => {
        const message = error instanceof Error ? error.message : String(error);
        response.writeHead(500, { "content-type": "application/json" }).end(JSON.stringify({ message }));
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  process.env[SHARED_SYSTEM_ENV] = `http://127.0.0.1:${port}/system`;

  return async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    const system = await starting?.catch(() => undefined);
    await system?.stop();
    owned = undefined;
    process.off("exit", onExit);
  };
}
