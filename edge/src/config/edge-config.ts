import { EDGE_SECRETS, type EdgeEnv } from "../env.js";

/**
 * What the edge checks about its own configuration before it serves anything
 * (issue 11): a secret shorter than 32 bytes can be brute-forced offline from any
 * token or signature it protects, and a `dev-` value is one of the examples anybody
 * can read in `.dev.vars.example`. Outside `TETHER_ENV=development` both are
 * refused, as is a BROKER_URL that would carry BROKER_API_TOKEN in clear text.
 */
export const MIN_SECRET_BYTES = 32;
const DEV_SECRET_PREFIX = "dev-";
export const DEFAULT_CLIENT_JWT_MAX_TTL_SECONDS = 86_400;

export type TetherEnvironment = "development" | "production";

export interface EdgeConfig {
  environment: TetherEnvironment;
  /** Client JWT policy (auth/client-token.ts). */
  clientJwt: {
    secret: string;
    maxTtlSeconds: number;
    issuer: string | undefined;
    audience: string | undefined;
  };
}

export type ConfigCheck = { ok: true; config: EdgeConfig } | { ok: false; problems: string[] };

const encoder = new TextEncoder();

function environmentOf(value: string | undefined): TetherEnvironment | null {
  if (value === undefined || value === "" || value === "production") return "production";
  return value === "development" ? "development" : null;
}

function secretProblem(name: string, value: unknown, environment: TetherEnvironment): string | null {
  if (typeof value !== "string" || value === "") return `${name} is not set`;
  if (environment === "development") return null;
  if (value.startsWith(DEV_SECRET_PREFIX))
    return `${name} is a dev- value (allowed only with TETHER_ENV=development)`;
  if (encoder.encode(value).byteLength < MIN_SECRET_BYTES) {
    return `${name} is shorter than ${MIN_SECRET_BYTES} bytes (allowed only with TETHER_ENV=development)`;
  }
  return null;
}

function brokerUrlProblem(value: unknown, environment: TetherEnvironment): string | null {
  if (typeof value !== "string" || value === "") return "BROKER_URL is not set";
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return "BROKER_URL is not an absolute URL";
  }
  if (url.protocol === "https:") return null;
  if (url.protocol === "http:" && environment === "development") return null;
  return `BROKER_URL must be https:// (http:// only with TETHER_ENV=development), not ${url.protocol}//`;
}

/** A positive whole number from a var, the default when unset, or null when malformed. */
function positiveInt(text: string | undefined, fallback: number): number | null {
  if (text === undefined || text === "") return fallback;
  const value = Number(text);
  return Number.isSafeInteger(value) && value > 0 ? value : null;
}

const optional = (text: string | undefined) => (text === undefined || text === "" ? undefined : text);

/** Checks every binding the edge depends on; the problems name the variable, never its value. */
export function checkEdgeConfig(env: EdgeEnv): ConfigCheck {
  const problems: string[] = [];
  const environment = environmentOf(env.TETHER_ENV);
  if (environment === null) {
    return { ok: false, problems: ["TETHER_ENV must be development or production"] };
  }
  for (const name of EDGE_SECRETS) {
    const problem = secretProblem(name, env[name], environment);
    if (problem) problems.push(problem);
  }
  const brokerUrl = brokerUrlProblem(env.BROKER_URL, environment);
  if (brokerUrl) problems.push(brokerUrl);
  const maxTtlSeconds = positiveInt(env.CLIENT_JWT_MAX_TTL_SECONDS, DEFAULT_CLIENT_JWT_MAX_TTL_SECONDS);
  if (maxTtlSeconds === null) problems.push("CLIENT_JWT_MAX_TTL_SECONDS must be a positive whole number");
  if (problems.length > 0 || maxTtlSeconds === null) return { ok: false, problems };
  return {
    ok: true,
    config: {
      environment,
      clientJwt: {
        secret: env.CLIENT_JWT_SECRET,
        maxTtlSeconds,
        issuer: optional(env.CLIENT_JWT_ISSUER),
        audience: optional(env.CLIENT_JWT_AUDIENCE),
      },
    },
  };
}
