/**
 * Log lines never carry attacker-sized data (issue 10 §5): a client id or topic
 * can be 64 KiB on the wire. Strings are cut to this many characters, with the
 * length of what was cut, so a line stays small and still says what it was.
 */
export const LOG_STRING_MAX = 80;

/** `value` cut to `max` characters, marked with how many were cut. */
export function clip(value: string, max = LOG_STRING_MAX): string {
  if (value.length <= max) return value;
  return `${value.slice(0, max)}…(+${value.length - max} chars)`;
}

/** A copy of `details` with every string value clipped (other values pass as they are). */
export function clipDetails(details: Record<string, unknown>): Record<string, unknown> {
  const clipped: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(details)) {
    clipped[key] = typeof value === "string" ? clip(value) : value;
  }
  return clipped;
}
