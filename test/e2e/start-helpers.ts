/**
 * Helpers of test/e2e/start.test.ts and its console tests (start-console.ts): the
 * launcher's environment without Tether's secrets, reading what `npm start` printed, and
 * holding a port.
 */
import { createServer, type Server } from "node:net";

const SECRET_NAMES = [
  "DEVICE_SECRET",
  "BROKER_API_TOKEN",
  "EDGE_EVENTS_SECRET",
  "RAILS_API_TOKEN",
  "CLIENT_JWT_SECRET",
];

/** The developer's environment without Tether's secrets, so the launcher generates its own. */
export function launcherEnv(ports: Record<string, number | undefined>): NodeJS.ProcessEnv {
  // As in system-fixture.ts: other test files' CPU must not make npm start's broker shed.
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    FORCE_COLOR: "0",
    MAX_EVENT_LOOP_LAG_MS: "0",
    COMMAND_LATENCY_TOLERANCE: "0",
  };
  for (const name of [...SECRET_NAMES, "MQTT_PORT", "HTTP_PORT", "EDGE_PORT", "HOST"]) delete env[name];
  for (const [name, port] of Object.entries(ports)) if (port !== undefined) env[name] = String(port);
  return env;
}

export function match(output: string, pattern: RegExp, what: string): string {
  const found = pattern.exec(output)?.[1];
  if (!found) throw new Error(`npm start did not print ${what}:\n${output}`);
  return found;
}

export function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen({ port, host: "127.0.0.1" }, () => resolve(server));
  });
}
