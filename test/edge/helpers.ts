import { env, SELF } from "cloudflare:test";
import { sign } from "hono/jwt";
import { vi } from "vitest";
import { bearer, SIGNATURE_HEADER, signBody } from "../../protocol/src/index.js";

export const EDGE = "http://edge.test";

/** A device id no other test uses, so each test gets its own DeviceChannel. */
export function freshDeviceId(): string {
  return `dev-${crypto.randomUUID()}`;
}

export interface TokenClaims {
  sub?: string;
  devices?: string[];
  kind?: "mobile" | "web";
  exp?: number;
  [claim: string]: unknown;
}

/** An HS256 client token as Rails would issue it (valid for 10 minutes unless told). */
export function clientToken(claims: TokenClaims, secret = env.CLIENT_JWT_SECRET): Promise<string> {
  return sign(
    { sub: "user-1", kind: "web", devices: [], exp: Math.floor(Date.now() / 1000) + 600, ...claims },
    secret,
    "HS256",
  );
}

export function railsRequest(path: string, init: RequestInit = {}, token = env.RAILS_API_TOKEN) {
  const headers = new Headers(init.headers);
  headers.set("authorization", bearer(token));
  return SELF.fetch(`${EDGE}${path}`, { ...init, headers });
}

/** Posts a signed event batch as the broker does; `skewSeconds` moves the signature's clock. */
export async function postEvents(
  body: unknown,
  options: { secret?: string; skewSeconds?: number } = {},
): Promise<Response> {
  // Every batch the broker sends carries a unique batchId; tests that don't care get one.
  const withId =
    typeof body === "object" && body !== null && !Array.isArray(body) && !("batchId" in body)
      ? { batchId: crypto.randomUUID(), ...body }
      : body;
  const raw = JSON.stringify(withId);
  const now = Date.now() / 1000 + (options.skewSeconds ?? 0);
  const signature = await signBody(options.secret ?? env.EDGE_EVENTS_SECRET, raw, now);
  return SELF.fetch(`${EDGE}/internal/events`, {
    method: "POST",
    headers: { "content-type": "application/json", [SIGNATURE_HEADER]: signature },
    body: raw,
  });
}

/** Opens a client socket (token in `?token=` unless `protocols` are given). */
export async function openSocket(
  deviceId: string,
  token: string | null,
  options: { protocols?: string } = {},
): Promise<Response> {
  const query = token !== null && options.protocols === undefined ? `?token=${token}` : "";
  const headers: Record<string, string> = { upgrade: "websocket" };
  if (options.protocols !== undefined) headers["sec-websocket-protocol"] = options.protocols;
  return SELF.fetch(`${EDGE}/v1/devices/${deviceId}/ws${query}`, { headers });
}

/** A connected client socket that records every frame it receives. */
export class ClientSocket {
  readonly frames: unknown[] = [];
  readonly raw: string[] = [];
  closed: { code: number; reason: string } | null = null;
  private waiters: Array<() => void> = [];

  constructor(readonly ws: WebSocket) {
    ws.addEventListener("message", (event) => {
      const text = typeof event.data === "string" ? event.data : "";
      this.raw.push(text);
      this.frames.push(text === "pong" ? text : JSON.parse(text));
      this.wake();
    });
    ws.addEventListener("close", (event) => {
      this.closed = { code: event.code, reason: event.reason };
      this.wake();
    });
    ws.accept();
  }

  static async open(deviceId: string, token: string, options: { protocols?: string } = {}) {
    const response = await openSocket(deviceId, token, options);
    if (response.status !== 101 || !response.webSocket) {
      throw new Error(`expected 101, got ${response.status}: ${await response.text()}`);
    }
    return new ClientSocket(response.webSocket);
  }

  /** Waits until at least `count` frames have arrived (or fails after `timeoutMs`). */
  async waitForFrames(count: number, timeoutMs = 2000): Promise<unknown[]> {
    await this.until(() => this.frames.length >= count, timeoutMs, `${count} frames`);
    return this.frames.slice(0, count);
  }

  async waitForClose(timeoutMs = 2000): Promise<{ code: number; reason: string }> {
    await this.until(() => this.closed !== null, timeoutMs, "close");
    return this.closed ?? { code: 0, reason: "" };
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  close(): void {
    try {
      this.ws.close(1000, "test done");
    } catch {
      // already closed
    }
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  private async until(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.frames)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 50));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

export type BrokerHandler = (request: Request, body: string) => Response | Promise<Response>;

/** What the edge sent to the broker, read inside the mock (bodies cannot cross objects). */
export interface BrokerCall {
  url: string;
  method: string;
  authorization: string | null;
  body: unknown;
}

/**
 * Answers the edge's outbound fetches to the broker. The pool runs the Worker and
 * its Durable Objects in the test's isolate, so a spy on global fetch sees them.
 */
export function mockBroker(handler: BrokerHandler) {
  const calls: BrokerCall[] = [];
  const spy = vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const request = new Request(input, init);
    const text = await request.text();
    calls.push({
      url: request.url,
      method: request.method,
      authorization: request.headers.get("authorization"),
      body: text ? JSON.parse(text) : null,
    });
    if (!request.url.startsWith(`${env.BROKER_URL}/`)) throw new Error(`unexpected fetch ${request.url}`);
    return handler(request, text);
  });
  return { calls, spy };
}

/** The desired-state fields of a device view before any desired state was set (issue 15). */
export const NO_DESIRED = {
  desired: {},
  desiredVersion: 0,
  reportedDesiredVersion: null,
  delta: {},
  desiredError: null,
} as const;
