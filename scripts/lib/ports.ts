import { readFileSync } from "node:fs";
import { createServer } from "node:net";

/** A port the system wants, with the configuration name that chooses it. */
export interface PortClaim {
  port: number;
  /** How it was chosen: the variable or flag the developer set, or the variable that would. */
  name: string;
  what: string;
  /** Set by the developer: a taken one stops the start. Otherwise a taken default is replaced. */
  explicit?: boolean;
  /** How the one-line notice names it ("MQTT port"). */
  label?: string;
  /** Appended to that notice: who usually holds the default (" (mosquitto?)"). */
  usualHolder?: string;
}

/** Resolves when `port` can be bound on `host`, or rejects with the bind error. */
export function tryBind(port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve()));
  });
}

function takenMessage(claim: PortClaim, host: string, error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  const hint = claim.port === 1883 ? " (on many machines Mosquitto already listens there)" : "";
  return code === "EADDRINUSE"
    ? `port ${claim.port} (${claim.name}, ${claim.what}) is already in use on ${host}${hint}; ` +
        `choose another, e.g. ${claim.name}=${suggest(claim.port)} npm start, or leave it unset to get a free one`
    : `cannot bind port ${claim.port} (${claim.name}, ${claim.what}) on ${host}: ${code ?? String(error)}`;
}

export interface PortChoice {
  /** The port each claim gets, in the claims' order. */
  ports: number[];
  /** One line per default that was taken and replaced (issue 13). */
  notices: string[];
  /** Explicit ports that cannot be had; the start stops. */
  problems: string[];
}

/**
 * The ports to start on: an explicit port must be free (else a problem naming its
 * variable); a default that is taken — Mosquitto on 1883 is common — is replaced by a
 * free port, said in one line. The replacement is random rather than a fixed
 * neighbour: two launchers starting at once (parallel test runs) must not pick the
 * same one, and the run's URLs change anyway with its dev-only token.
 */
export async function choosePorts(claims: PortClaim[], host: string): Promise<PortChoice> {
  const choice: PortChoice = { ports: claims.map((claim) => claim.port), notices: [], problems: [] };
  const used = new Set(claims.filter((claim) => claim.explicit).map((claim) => claim.port));
  for (const [i, claim] of claims.entries()) {
    if (claim.explicit) {
      await tryBind(claim.port, host).catch((error: unknown) =>
        choice.problems.push(takenMessage(claim, host, error)),
      );
      continue;
    }
    const free =
      !used.has(claim.port) &&
      (await tryBind(claim.port, host).then(
        () => true,
        () => false,
      ));
    if (!free) {
      let replacement = await freePort(host);
      while (used.has(replacement)) replacement = await freePort(host);
      choice.ports[i] = replacement;
      choice.notices.push(
        `${claim.label ?? claim.name} ${claim.port} is in use${claim.usualHolder ?? ""}; using ${replacement}`,
      );
    }
    used.add(choice.ports[i] ?? claim.port);
  }
  return choice;
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
