import { readFileSync } from "node:fs";
import { createServer } from "node:net";

/** A port the system wants, with the configuration name that chooses it. */
export interface PortClaim {
  port: number;
  name: string;
  what: string;
}

/** Resolves when `port` can be bound on `host`, or rejects with the bind error. */
function tryBind(port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve()));
  });
}

/**
 * Checks every claimed port before anything starts, so a taken port is reported
 * once, with the variable that moves it, instead of as a half-started system.
 */
export async function findTakenPorts(claims: PortClaim[], host: string): Promise<string[]> {
  const problems: string[] = [];
  for (const claim of claims) {
    try {
      await tryBind(claim.port, host);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const hint = claim.port === 1883 ? " (on many machines Mosquitto already listens there)" : "";
      problems.push(
        code === "EADDRINUSE"
          ? `port ${claim.port} (${claim.name}, ${claim.what}) is already in use on ${host}${hint}; ` +
              `choose another, e.g. ${claim.name}=${suggest(claim.port)} npm start`
          : `cannot bind port ${claim.port} (${claim.name}, ${claim.what}) on ${host}: ${code ?? String(error)}`,
      );
    }
  }
  return problems;
}

function suggest(port: number): number {
  return port < 10_000 ? port + 17_000 : port + 1;
}

/** The first port of the kernel's ephemeral range (what port 0 and outgoing connections use). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 12_000 ? low : 32_768;
  } catch {
    return 32_768; // not Linux: the IANA range starts at 49152, so this is below it too
  }
}

/**
 * A port that was free a moment ago, for child processes that need a number up front.
 * Chosen at random *below* the ephemeral range: a port-0 listener or any outgoing
 * connection (a test opening thousands of sockets) can never be handed it between now
 * and the child's bind — with an ephemeral port that race made wrangler fail to start.
 */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  const low = 10_000;
  const high = ephemeralLow() - 1;
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    try {
      await tryBind(port, host);
      return port;
    } catch {
      // taken (a service, another test): try another
    }
  }
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen({ port: 0, host }, () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
