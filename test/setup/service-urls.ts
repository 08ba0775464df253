/**
 * The URLs of the test run's private Redis and Mosquitto (test/setup/services.ts starts
 * them). Tests never fall back to the machine's own servers on 6379/1883: a missing
 * variable means the file was run outside vitest's setup, and says so.
 */
import { MOSQUITTO_URL_ENV, REDIS_URL_ENV } from "./local-services.js";

function serviceUrl(name: string): string {
  const url = process.env[name];
  if (!url) {
    throw new Error(
      `${name} is not set: run the tests with vitest (npm test), whose global setup starts a private ` +
        `server (test/setup/services.ts), or set ${name} to a server of your own`,
    );
  }
  return url;
}

/** The private Redis of this run (re-exported by test/broker/helpers.ts, where tests import it). */
export const REDIS_URL = serviceUrl(REDIS_URL_ENV);
/** The private Mosquitto of this run: a third-party broker for the SDK's tests. */
export const MOSQUITTO_URL = serviceUrl(MOSQUITTO_URL_ENV);
