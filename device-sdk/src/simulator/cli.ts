import { HELP, parseCliArgs } from "./args.js";
import { startProgress } from "./progress.js";
import { startSimulation } from "./simulation.js";

/** `npm run simulate -- --routers 200 --broker mqtt://127.0.0.1:1883 --device-secret S`. */
async function main(): Promise<number> {
  let args: ReturnType<typeof parseCliArgs>;
  try {
    args = parseCliArgs(process.argv.slice(2), process.env);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const { options, durationS } = args;
  process.stdout.write(
    `simulating ${options.routers} routers (${options.idPrefix}${options.startIndex} …) against ${options.brokerUrls?.join(", ")}\n`,
  );
  const simulation = startSimulation(options);
  const stopProgress = startProgress(process.stdout, () => simulation.stats());

  await new Promise<void>((resolve) => {
    const timer = durationS === null ? null : setTimeout(resolve, durationS * 1_000);
    const onSignal = () => {
      if (timer) clearTimeout(timer);
      resolve();
    };
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
  });
  stopProgress();
  await simulation.stop();
  process.stdout.write(`${JSON.stringify(simulation.stats())}\n`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`simulator failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
