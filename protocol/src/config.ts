/** Configuration names of CONTRACT.md, "Configuration names" — spelled once, here. */
export const BROKER_CONFIG = {
  MQTT_PORT: 1883,
  HTTP_PORT: 8080,
  SESSION_EXPIRY_SECONDS: 86_400,
  MAX_PAYLOAD_BYTES: 65_536,
} as const;

export const EDGE_DEFAULT_PORT = 8787;

/** Authorization header value for a bearer token. */
export function bearer(token: string): string {
  return `Bearer ${token}`;
}
