import { isIP } from "node:net";

/**
 * Why `host` cannot be a listening address, before anything binds: dotted digits that
 * are no IPv4 address (`999.1.1.1`), or text no host name could be. Undefined when it
 * may be fine; whether a name resolves to this machine only binding can tell (bindError).
 */
export function hostProblem(host: string): string | undefined {
  if (isIP(host) !== 0) return undefined;
  if (/^[\d.]+$/.test(host)) return "is not an IP address (each of the four numbers is 0-255)";
  if (!/^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/.test(host)) {
    return "is neither an IP address nor a host name";
  }
  return undefined;
}

/** Node's bind error for an address that is not this machine's, in words; undefined for any other error. */
export function bindHostError(error: unknown): string | undefined {
  const code = error instanceof Error && "code" in error ? String(error.code) : undefined;
  switch (code) {
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `does not resolve to an address (getaddrinfo ${code})`;
    case "EADDRNOTAVAIL":
      return "is not an address of this machine (EADDRNOTAVAIL)";
    default:
      return undefined;
  }
}
