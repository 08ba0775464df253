import { createServer } from "node:http";
import { isRecord, SIGNATURE_HEADER, verifyBodySignature } from "../protocol/src/index.js";

/** What the broker forwarded, by event type and presence reason. */
export interface EventTally {
  batches: number;
  badSignatures: number;
  byType: Record<string, number>;
  presence: Record<string, number>;
}

/** Bound of the request body we accept; the forwarder's batches are far smaller. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

/**
 * A stand-in for the edge's `/internal/events` in broker-only mode: checks the
 * signature, counts events (a `session_expired` presence proves a vanished
 * router's session was reaped) and answers 200, so the forwarder runs as in production.
 */
export async function startEventsSink(
  secret: string,
): Promise<{ url: string; tally: EventTally; close(): Promise<void> }> {
  const tally: EventTally = { batches: 0, badSignatures: 0, byType: {}, presence: {} };
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    request.on("end", async () => {
      const raw = Buffer.concat(chunks).toString();
      const header = request.headers[SIGNATURE_HEADER.toLowerCase()];
      const check = await verifyBodySignature(
        secret,
        typeof header === "string" ? header : null,
        raw,
        Date.now() / 1000,
      );
      if (!check.ok) {
        tally.badSignatures++;
        response.writeHead(401).end();
        return;
      }
      tally.batches++;
      try {
        const body: unknown = JSON.parse(raw);
        const events = isRecord(body) && Array.isArray(body.events) ? body.events : [];
        for (const event of events) {
          if (!isRecord(event) || typeof event.type !== "string") continue;
          tally.byType[event.type] = (tally.byType[event.type] ?? 0) + 1;
          if (event.type === "presence" && typeof event.reason === "string") {
            tally.presence[event.reason] = (tally.presence[event.reason] ?? 0) + 1;
          }
        }
      } catch {
        // counted as a batch; a malformed body would be the broker's bug, visible in byType staying empty
      }
      response.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/internal/events`,
    tally,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
