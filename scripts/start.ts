/**
 * `npm start`: the whole system on one machine — broker (in memory), edge on
 * workerd (scripts/edge-dev.ts: wrangler's API, inspector off; `--inspector`: wrangler
 * dev) wired to it both ways, and optionally simulated routers.
 */
import { bindHostError } from "../broker/src/config/host.js";
import { banner } from "./lib/banner.js";
import { mintClientToken } from "./lib/dev-secrets.js";
import { choosePorts, tryBind } from "./lib/ports.js";
import { HELP, parseStartOptions } from "./lib/start-options.js";
import { type RunningSystem, startSystem } from "./lib/system.js";

async function main(): Promise<void> {
  const parsed = parseStartOptions(process.argv.slice(2), process.env);
  if (parsed.kind === "help") {
    console.log(HELP);
    return;
  }
  if (parsed.kind === "invalid") {
    for (const problem of parsed.problems) console.error(`tether: ${problem}`);
    console.error("tether: npm start -- --help lists the options.");
    process.exit(2);
  }
  const { simulate, idPrefix, host } = parsed.options;

  // A name that resolves elsewhere, or an address this machine does not have: say so
  // once, by its flag, rather than once per port as Node's bind error.
  const badHost = await tryBind(0, host).then(
    () => undefined,
    (error: unknown) => bindHostError(error),
  );
  if (badHost) {
    console.error(`tether: ${parsed.options.hostName} ${host} ${badHost}`);
    process.exit(2);
  }
  const { ports, notices, problems } = await choosePorts(parsed.options.ports, host);
  if (problems.length > 0) {
    console.error(`tether: cannot start:\n  - ${problems.join("\n  - ")}`);
    process.exit(1);
  }
  for (const notice of notices) console.log(`tether: ${notice}`);
  const [mqttPort, httpPort, edgePort] = ports as [number, number, number];

  // Children run in their own process groups, so a terminal's Ctrl-C reaches only
  // this process: it must stop them, during start-up too (else they would be orphaned).
  // Under `npm start` one Ctrl-C arrives twice, from the terminal and forwarded by npm:
  // a repeat within SAME_CTRL_C_MS is that same keypress, not "kill at once".
  const SAME_CTRL_C_MS = 500;
  let firstSignalAt: number | undefined;
  const startup = new AbortController();
  let system: RunningSystem | undefined;
  let stopping = false;
  const shutdown = async (code: number) => {
    if (stopping) return;
    stopping = true;
    console.log("\ntether: stopping … (Ctrl-C again to kill at once)");
    await system?.stop();
    console.log("tether: stopped.");
    process.exit(code);
  };
  const onSignal = () => {
    const now = Date.now();
    if (firstSignalAt !== undefined && now - firstSignalAt < SAME_CTRL_C_MS) return;
    firstSignalAt ??= now;
    if (!system) {
      startup.abort();
      return;
    }
    if (stopping) {
      system.kill();
      console.error("tether: killed.");
      process.exit(130);
    }
    void shutdown(0);
  };
  for (const name of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(name, onSignal);

  console.log(`tether: starting edge, broker${simulate ? ` and ${simulate} routers` : ""} …`);
  try {
    system = await startSystem({
      host,
      mqttPort,
      httpPort,
      edgePort,
      simulate,
      idPrefix,
      edgeInspector: parsed.options.inspector,
      // A developer's edits to edge/src reload the local edge, as `wrangler dev` does.
      edgeWatch: true,
      signal: startup.signal,
    });
  } catch (error) {
    if (startup.signal.aborted) {
      console.error("tether: interrupted during start-up; stopped.");
      process.exit(130);
    }
    throw error;
  }

  const deviceIds =
    parsed.options.devices ??
    Array.from({ length: Math.min(simulate || 10, 1000) }, (_, i) => `${idPrefix}${i}`);
  const token = await mintClientToken(system.secrets.CLIENT_JWT_SECRET, {
    sub: "dev-user",
    devices: deviceIds,
    kind: "web",
    // The console's token may command the simulated routers (it is the developer's own).
    cmd: true,
  });
  console.log(banner(system, deviceIds, token, simulate));

  const exited = await system.firstExit;
  if (!stopping) {
    console.error(
      `tether: ${exited.name} exited unexpectedly; last output:\n  ${exited.tail().join("\n  ")}`,
    );
    await shutdown(1);
  }
}

main().catch((error: unknown) => {
  console.error(`tether: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
