import type { Socket } from "node:net";
import { addressKey } from "./address-key.js";
import { RecencyMap } from "./recency-map.js";
import { type BucketRate, TokenBucket } from "./token-bucket.js";

export interface AdmissionLimits {
  /** Open MQTT sockets, authenticated or not; beyond it a new socket is closed at once. */
  maxConnections: number;
  /** Sockets of one source address that have not authenticated yet. */
  maxUnauthenticatedPerAddress: number;
  /** Failed CONNECTs (bad credentials) one address may make in a burst… */
  authFailureBurst: number;
  /** …refilled at this rate (per second)… */
  authFailuresPerSecond: number;
  /** …after which the address is refused for this long. */
  authFailureCooldownMs: number;
  /** Addresses tracked at once (the limiter's own bound). */
  maxTrackedAddresses: number;
}

export type AdmissionRefusal = "max_connections" | "unauthenticated_per_address" | "address_cooldown";

/** What one source address (an IPv4 address or an IPv6 /64) is doing. */
class AddressState {
  unauthenticated = 0;
  cooldownUntil = 0;
  readonly failures: TokenBucket;

  constructor(rate: BucketRate, now: number) {
    this.failures = new TokenBucket(rate, now);
  }
}

/** Set on a socket while it counts as unauthenticated: its address key. */
const PENDING = Symbol("tether.admissionPending");

interface AdmittedSocket extends Socket {
  [PENDING]?: string | undefined;
}

/** Aedes hands hooks its connection as a stream type; for TCP and TLS it is the socket admitted here. */
function remoteAddressOf(connection: object): string | undefined {
  const address: unknown = Reflect.get(connection, "remoteAddress");
  return typeof address === "string" ? address : undefined;
}

/**
 * Connection admission (issue 10 §4), before Aedes sees a socket:
 * - at most `maxConnections` open sockets;
 * - per source address, at most `maxUnauthenticatedPerAddress` sockets that
 *   have not authenticated yet (each lives at most CONNECT_TIMEOUT_MS);
 * - per source address, a token bucket of failed CONNECTs; once it is empty the
 *   address is refused for `authFailureCooldownMs`.
 * A refused socket is closed at once, before any parsing. Routers behind one
 * NAT share an address: the defaults leave room for a crowd of them
 * reconnecting at once, and only bad credentials count as failures.
 */
export class ConnectionAdmission {
  readonly #limits: AdmissionLimits;
  readonly #rate: BucketRate;
  readonly #now: () => number;
  /** Bound: `maxTrackedAddresses`; an address with no pending socket, no cool-down and a full bucket is idle. */
  readonly #addresses: RecencyMap<AddressState>;
  #open = 0;
  readonly #onClose: (this: AdmittedSocket) => void;

  constructor(limits: AdmissionLimits, now: () => number) {
    this.#limits = limits;
    this.#rate = { perSecond: limits.authFailuresPerSecond, burst: limits.authFailureBurst };
    this.#now = now;
    this.#addresses = new RecencyMap(
      limits.maxTrackedAddresses,
      (state) =>
        state.unauthenticated === 0 &&
        state.cooldownUntil <= this.#now() &&
        state.failures.isFull(this.#rate, this.#now()),
    );
    const closed = (socket: AdmittedSocket) => this.#closed(socket);
    // One listener shared by every socket: no closure per connection.
    this.#onClose = function onAdmittedSocketClose(this: AdmittedSocket) {
      closed(this);
    };
  }

  /** Open sockets counted. */
  get open(): number {
    return this.#open;
  }

  /** Addresses tracked now. */
  get trackedAddresses(): number {
    return this.#addresses.size;
  }

  /** The refusals that need no tracking (a full broker, an address in cool-down); for TLS before the handshake. */
  precheck(socket: Socket): AdmissionRefusal | null {
    if (this.#open >= this.#limits.maxConnections) return "max_connections";
    return this.coolingDown(socket) ? "address_cooldown" : null;
  }

  /** Decides on a new socket; null = admitted (and tracked until it closes). */
  admit(socket: Socket): AdmissionRefusal | null {
    if (this.#open >= this.#limits.maxConnections) return "max_connections";
    const key = addressKey(socket.remoteAddress);
    const now = this.#now();
    const existing = this.#addresses.get(key);
    if (existing && existing.cooldownUntil > now) return "address_cooldown";
    if (existing && existing.unauthenticated >= this.#limits.maxUnauthenticatedPerAddress) {
      return "unauthenticated_per_address";
    }
    const state = this.#addresses.touch(key, () => new AddressState(this.#rate, now));
    state.unauthenticated++;
    this.#open++;
    (socket as AdmittedSocket)[PENDING] = key;
    // `on`, not `once`: a socket closes once, and `once` would wrap the shared listener in a
    // closure per socket (issue 14: per-connection memory).
    socket.on("close", this.#onClose);
    return null;
  }

  /** True while the connection's address is refused (a CONNECT already on its way is refused too). */
  coolingDown(connection: object): boolean {
    // Until it authenticates, an admitted socket carries its address key: no second parse.
    const pending: unknown = Reflect.get(connection, PENDING);
    const key = typeof pending === "string" ? pending : addressKey(remoteAddressOf(connection));
    const state = this.#addresses.get(key);
    return state !== undefined && state.cooldownUntil > this.#now();
  }

  /** The connection authenticated: it no longer counts against its address. */
  authenticated(connection: object): void {
    this.#release(connection as AdmittedSocket);
  }

  /** A CONNECT on this connection had bad credentials; true when that started a cool-down. */
  failed(connection: object): boolean {
    const key = addressKey(remoteAddressOf(connection));
    const now = this.#now();
    const state = this.#addresses.touch(key, () => new AddressState(this.#rate, now));
    if (state.failures.take(this.#rate, now)) return false;
    state.cooldownUntil = now + this.#limits.authFailureCooldownMs;
    // A fresh burst once the cool-down is over.
    state.failures.tokens = this.#rate.burst;
    state.failures.at = state.cooldownUntil;
    return true;
  }

  clear(): void {
    this.#addresses.clear();
  }

  #release(socket: AdmittedSocket): void {
    const key = socket[PENDING];
    if (key === undefined) return;
    socket[PENDING] = undefined;
    const state = this.#addresses.get(key);
    if (state && state.unauthenticated > 0) state.unauthenticated--;
  }

  #closed(socket: AdmittedSocket): void {
    this.#open--;
    this.#release(socket);
  }
}
