import { randomBytes } from "node:crypto";
import { sign } from "hono/jwt";

/** The secrets the local system shares between broker and edge. */
export interface DevSecrets {
  DEVICE_SECRET: string;
  BROKER_API_TOKEN: string;
  EDGE_EVENTS_SECRET: string;
  RAILS_API_TOKEN: string;
  CLIENT_JWT_SECRET: string;
}

export const SECRET_NAMES: (keyof DevSecrets)[] = [
  "DEVICE_SECRET",
  "BROKER_API_TOKEN",
  "EDGE_EVENTS_SECRET",
  "RAILS_API_TOKEN",
  "CLIENT_JWT_SECRET",
];

/**
 * Secrets from the environment where set; the rest generated fresh for this run.
 * Generated ones are dev-only and say so wherever they are printed.
 */
export function devSecrets(env: NodeJS.ProcessEnv): { secrets: DevSecrets; generated: (keyof DevSecrets)[] } {
  const generated: (keyof DevSecrets)[] = [];
  const pick = (name: keyof DevSecrets) => {
    const value = env[name];
    if (value) return value;
    generated.push(name);
    return `dev-${randomBytes(18).toString("base64url")}`;
  };
  const secrets = Object.fromEntries(SECRET_NAMES.map((name) => [name, pick(name)])) as unknown as DevSecrets;
  return { secrets, generated };
}

/**
 * A client token as Rails would issue it (HS256, claims per PROTOCOL.md): `cmd: true`
 * lets its holder command the devices too, not only watch them.
 */
export async function mintClientToken(
  secret: string,
  claims: { sub: string; devices: string[]; kind: "web" | "mobile"; ttlSeconds?: number; cmd?: boolean },
): Promise<string> {
  const iat = Math.floor(Date.now() / 1000);
  const exp = iat + (claims.ttlSeconds ?? 12 * 3600);
  const { sub, devices, kind, cmd = false } = claims;
  return sign({ sub, devices, kind, cmd, iat, exp }, secret, "HS256");
}
