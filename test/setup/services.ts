/**
 * vitest global setup: the private redis-server and mosquitto the tests use (issue 13),
 * started before any test and stopped after the last. Their URLs reach the test files
 * (and anything they spawn) as TEST_REDIS_URL and TEST_MOSQUITTO_URL; read them through
 * REDIS_URL (test/broker/helpers.ts) and MOSQUITTO_URL (test/setup/service-urls.ts).
 * A variable that is already set — pointing at a server of your own, or set by the
 * setup of another project in this run — is used as it is, and nothing is started for it.
 */
import {
  guardDir,
  MOSQUITTO_URL_ENV,
  makeServicesDir,
  REDIS_URL_ENV,
  type RunningService,
  removeDir,
  STARTED_ENV,
  startMosquitto,
  startRedis,
} from "./local-services.js";
import { requireTools, TOOLS } from "./prerequisites.js";

export default async function setupServices(): Promise<() => Promise<void>> {
  const wanted = [
    { env: REDIS_URL_ENV, tool: TOOLS.redis, start: startRedis },
    { env: MOSQUITTO_URL_ENV, tool: TOOLS.mosquitto, start: startMosquitto },
  ].filter((service) => !process.env[service.env]);
  if (wanted.length === 0) return async () => {};

  const binaries = requireTools(wanted.map((service) => service.tool));
  const dir = makeServicesDir();
  guardDir(dir);
  const started: RunningService[] = [];
  const teardown = async () => {
    await Promise.all(started.map((service) => service.stop()));
    for (const service of wanted) delete process.env[service.env];
    delete process.env[STARTED_ENV];
    removeDir(dir);
  };
  try {
    await Promise.all(
      wanted.map(async ({ env, tool, start }) => {
        const service = await start(binaries.get(tool.command) ?? tool.command, dir);
        started.push(service);
        process.env[env] = service.url;
      }),
    );
    process.env[STARTED_ENV] = started.map((service) => service.name).join(",");
  } catch (error) {
    await teardown();
    throw error;
  }
  return teardown;
}
