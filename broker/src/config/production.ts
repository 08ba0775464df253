/**
 * TETHER_ENV=production (issue 10 §8): the broker refuses to start with a posture
 * that is fine on a laptop and wrong on the internet. `npm start` and the tests
 * run as development.
 */

/** Secrets shorter than this are refused in production (an HMAC key or bearer token to guess). */
export const PRODUCTION_MIN_SECRET_LENGTH = 32;
/** The prefix of the secrets `npm start` generates for local runs. */
const DEV_SECRET_PREFIX = "dev-";

export interface ProductionPosture {
  host: string;
  secrets: Array<{ env: string; value: string | undefined }>;
  mqttTls: boolean;
  allowPlainMqtt: boolean;
  edgeEventsUrl: string | undefined;
}

/** True for a loopback host name or address: traffic there never leaves the machine. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, "").toLowerCase();
  return bare === "localhost" || bare === "::1" || /^127\.\d+\.\d+\.\d+$/.test(bare);
}

/** Every reason the posture is not fit for production (empty = fit). */
export function productionProblems(posture: ProductionPosture): string[] {
  const problems: string[] = [];
  for (const { env, value } of posture.secrets) {
    if (value === undefined) continue;
    if (value.length < PRODUCTION_MIN_SECRET_LENGTH) {
      problems.push(`${env} must be at least ${PRODUCTION_MIN_SECRET_LENGTH} characters in production`);
    }
    if (value.startsWith(DEV_SECRET_PREFIX)) {
      problems.push(
        `${env} starts with "${DEV_SECRET_PREFIX}": a development secret; generate one (openssl rand -base64 32)`,
      );
    }
  }
  if (!posture.mqttTls && !isLoopbackHost(posture.host) && !posture.allowPlainMqtt) {
    problems.push(
      `MQTT without TLS on ${posture.host}: routers' passwords would cross the network in clear; ` +
        "set TLS_CERT_FILE and TLS_KEY_FILE, or ALLOW_PLAIN_MQTT=1 if TLS ends in front of the broker",
    );
  }
  if (posture.edgeEventsUrl) {
    const url = new URL(posture.edgeEventsUrl);
    if (url.protocol === "http:" && !isLoopbackHost(url.hostname)) {
      problems.push(`EDGE_EVENTS_URL is plain http to ${url.hostname}: use https`);
    }
  }
  return problems;
}
