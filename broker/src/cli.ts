/**
 * `npm run broker -- [serve|credentials <deviceId>] [flags]`; see `--help`.
 * Exit codes: 0 ok, 1 runtime failure (e.g. a port in use), 2 bad configuration.
 */
import { devicePassword } from "../../protocol/src/index.js";
import { bindHostError } from "./config/host.js";
import { type BrokerConfig, ConfigError, loadConfig } from "./config.js";
import { allocatorLine, glibcVersion, jemallocLoaded, mallocArenaAdvice } from "./diagnostics/malloc.js";
import { keepRunningOnUnhandledRejection } from "./process-guards.js";

const NAME = "tether-broker";

function portInUse(error: unknown): { port: number | undefined } | undefined {
  if (!(error instanceof Error) || !("code" in error) || error.code !== "EADDRINUSE") return undefined;
  const port = "port" in error && typeof error.port === "number" ? error.port : undefined;
  return { port };
}

/** Names the setting to change for a port that is taken. */
function portAdvice(config: BrokerConfig, port: number | undefined): string {
  const where: string[] = [];
  if (port === undefined || port === config.mqttPort) where.push("MQTT_PORT (--mqtt-port)");
  if (port === undefined || port === config.httpPort) where.push("HTTP_PORT (--http-port)");
  const which = port === undefined ? "a port" : `port ${port}`;
  return `${which} on ${config.host} is already in use: stop what holds it or change ${where.join(" or ")}`;
}

async function serve(config: BrokerConfig): Promise<number> {
  // Loaded here so `--help` and `credentials` do not load Aedes, Hono and Redis clients.
  const { startBroker } = await import("./index.js");
  let broker: Awaited<ReturnType<typeof startBroker>>;
  try {
    broker = await startBroker(config);
  } catch (error) {
    const badHost = bindHostError(error);
    if (badHost) {
      console.error(`${NAME}: HOST (--host) "${config.host}" ${badHost}`);
      return 2;
    }
    const inUse = portInUse(error);
    if (!inUse) throw error;
    console.error(`${NAME}: ${portAdvice(config, inUse.port)}`);
    return 1;
  }
  keepRunningOnUnhandledRejection((line) => console.error(`${NAME}: ${line}`));
  console.log(`${NAME}: MQTT on ${broker.mqttUrl}, HTTP on ${broker.httpUrl}`);
  const glibc = glibcVersion();
  const jemalloc = jemallocLoaded();
  console.log(`${NAME}: ${allocatorLine(process.env, glibc, jemalloc)}`);
  const advice = mallocArenaAdvice(process.env, glibc, jemalloc);
  if (advice) console.error(`${NAME}: ${advice}`);

  return new Promise<number>((resolve) => {
    let closing = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (closing) {
        console.error(`${NAME}: ${signal} again, exiting without waiting`);
        process.exit(1);
      }
      closing = true;
      console.error(`${NAME}: ${signal}, closing (send it again to exit at once)`);
      broker.close().then(
        () => resolve(0),
        (error: unknown) => {
          console.error(`${NAME}: close failed:`, error);
          resolve(1);
        },
      );
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
}

async function main(): Promise<number> {
  let cli: ReturnType<typeof loadConfig>;
  try {
    cli = loadConfig(process.argv.slice(2), process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`${NAME}: ${error.message}`);
    return error.exitCode;
  }
  if (cli.command !== "help")
    for (const warning of cli.warnings) console.error(`${NAME}: warning: ${warning}`);
  switch (cli.command) {
    case "help":
      console.log(cli.text);
      return 0;
    case "credentials":
      // Only the password on stdout, so `$(npm run -s broker -- credentials r1)` works.
      console.log(await devicePassword(cli.deviceSecret, cli.deviceId));
      return 0;
    case "serve":
      return serve(cli.config);
  }
}

main().then(
  // Explicit exit: the broker is closed; nothing else should decide when the process ends.
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`${NAME}: fatal:`, error);
    process.exit(1);
  },
);
