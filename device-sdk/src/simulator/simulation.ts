import { connect, type MqttClient } from "mqtt";
import { devicePassword } from "../../../protocol/src/index.js";
import type { BackoffOptions } from "../backoff.js";
import { detachSocket } from "../fault-injection.js";
import { type ChurnKind, type ChurnRates, NO_CHURN, scheduleChurn } from "./churn.js";
import { SimulatedRouter } from "./router.js";
import { ZombieSockets } from "./zombie-sockets.js";

export interface SimulationOptions {
  /** Routers to start: ids `${idPrefix}${startIndex}` … */
  routers: number;
  brokerUrl?: string;
  /** Several broker URLs, tried in turn by each router. */
  brokerUrls?: string[];
  /** The fleet secret; each router's password is devicePassword(deviceSecret, id). */
  deviceSecret: string;
  idPrefix?: string;
  startIndex?: number;
  keepalive?: number;
  eventIntervalMs?: number;
  stateIntervalMs?: number;
  /** Fleet-wide churn, events per minute per kind (see churn.ts). */
  churn?: Partial<ChurnRates>;
  /** Mean time a disconnected or half-open router stays away before rebooting, ms (default 5000). */
  downtimeMs?: number;
  /** How long a takeover connection holds the session, ms (default 2000). */
  takeoverHoldMs?: number;
  /** How long a silent socket is held open before it is destroyed, ms (default 2 × keepalive + 5 s). */
  halfOpenHoldMs?: number;
  /** Start a fresh id in place of each vanished router (default true). */
  replaceVanished?: boolean;
  /** Spread the initial connects over this long, ms (default 0: all at once). */
  rampMs?: number;
  backoff?: Partial<BackoffOptions>;
  random?: () => number;
}

export interface SimulationStats {
  /** Routers in the fleet, rebooting ones included. */
  routers: number;
  connected: number;
  reconnecting: number;
  /** Routers down on purpose (rebooting after churn). */
  down: number;
  commandsAnswered: number;
  eventsPublished: number;
  droppedEvents: number;
  churn: Record<ChurnKind, number>;
  zombieSockets: number;
  errors: number;
  lastError: string | null;
}

/** What a router really is right now, to compare with what the edge shows. */
export interface RouterTruth {
  online: boolean;
  /** Its local state (the SDK's); null while it is down. */
  state: Record<string, unknown> | null;
}

export interface Simulation {
  stats(): SimulationStats;
  /** Ids of the routers currently in the fleet. */
  routerIds(): string[];
  /** The truth about one router of the fleet, or null when it is not (or not yet) in it. */
  truth(id: string): RouterTruth | null;
  /** Resolves once at least `count` routers (default all) are connected. */
  waitConnected(count?: number, timeoutMs?: number): Promise<void>;
  /** Replaces the churn rates from now on (the soak's priming runs at ten times them, then back). */
  setChurn(rates: Partial<ChurnRates>): void;
  /** Stops churn, closes every router and takeover connection, destroys held sockets. */
  stop(): Promise<void>;
}

/**
 * Starts a fleet of simulated routers on the SDK — what `npm run simulate` runs, and
 * what the soak and end-to-end tests start programmatically.
 *
 * @example
 *   const sim = startSimulation({ routers: 200, brokerUrl: "mqtt://127.0.0.1:1883", deviceSecret,
 *     churn: { halfOpen: 6, vanish: 1 } });
 *   await sim.waitConnected();
 *   console.log(sim.stats());
 *   await sim.stop();
 */
export function startSimulation(options: SimulationOptions): Simulation {
  const urls = [...(options.brokerUrls ?? []), ...(options.brokerUrl ? [options.brokerUrl] : [])];
  if (urls.length === 0) throw new Error("brokerUrl or brokerUrls is required");
  if (!Number.isInteger(options.routers) || options.routers < 0) throw new Error("routers must be >= 0");
  const prefix = options.idPrefix ?? "router-";
  const keepalive = options.keepalive ?? 30;
  const downtimeMs = options.downtimeMs ?? 5_000;
  const random = options.random ?? Math.random;
  const churnRates: ChurnRates = { ...NO_CHURN, ...options.churn };
  const zombies = new ZombieSockets(options.halfOpenHoldMs ?? (2 * keepalive + 5) * 1_000);

  // Bound: the fleet size; a router leaves on vanish and on stop.
  const live = new Map<string, SimulatedRouter>();
  // Bound: the fleet size; each reboot timer removes itself when it fires.
  const rebooting = new Map<string, ReturnType<typeof setTimeout>>();
  // Bound: one per takeover in progress (each ends after takeoverHoldMs).
  const impostors = new Set<MqttClient>();
  // Bound: the fleet size; ids whose password is being derived before they join `live`.
  const booting = new Set<string>();
  const rampTimers = new Set<ReturnType<typeof setTimeout>>();
  let nextIndex = (options.startIndex ?? 0) + options.routers;
  let stopped = false;
  let retired = { commandsAnswered: 0, eventsPublished: 0, droppedEvents: 0 };
  const counts = { commandsAnswered: 0, errors: 0, lastError: null as string | null };
  const churned: Record<ChurnKind, number> = { disconnect: 0, halfOpen: 0, takeover: 0, vanish: 0 };

  const onError = (error: Error) => {
    counts.errors++;
    counts.lastError = error.message;
  };

  async function boot(id: string): Promise<void> {
    booting.add(id);
    const password = await devicePassword(options.deviceSecret, id).finally(() => booting.delete(id));
    if (stopped) return;
    const router = new SimulatedRouter({
      id,
      password,
      urls,
      keepalive,
      eventIntervalMs: options.eventIntervalMs ?? 30_000,
      stateIntervalMs: options.stateIntervalMs ?? 60_000,
      backoff: options.backoff,
      onCommand: () => counts.commandsAnswered++,
      onError,
    });
    live.set(id, router);
  }

  /** Bound: boots between their start and their router (the fleet plus replacements); each removes itself. */
  const inFlight = new Set<Promise<void>>();

  /** Boots `id` in the background; stop() waits for it, so nothing is still booting after stop. */
  function startBoot(id: string): void {
    const booted: Promise<void> = boot(id)
      .catch(onError)
      .finally(() => inFlight.delete(booted));
    inFlight.add(booted);
  }

  async function retire(router: SimulatedRouter): Promise<void> {
    live.delete(router.options.id);
    const s = router.device.stats();
    retired = {
      commandsAnswered: retired.commandsAnswered,
      eventsPublished: retired.eventsPublished + s.eventsPublished,
      droppedEvents: retired.droppedEvents + s.droppedEvents,
    };
    await router.stop();
  }

  function rebootLater(id: string): void {
    if (stopped) return;
    const delay = downtimeMs * (0.5 + random());
    const timer = setTimeout(() => {
      rebooting.delete(id);
      startBoot(id);
    }, delay);
    rebooting.set(id, timer);
  }

  function pickOnline(): SimulatedRouter | undefined {
    const online = [...live.values()].filter((router) => router.online);
    return online[Math.floor(random() * online.length)];
  }

  function takeOver(router: SimulatedRouter): void {
    const impostor = connect(urls[0] ?? "", {
      clientId: router.options.id,
      username: router.options.id,
      password: router.options.password,
      clean: false,
      keepalive,
      reconnectPeriod: 0,
      // Never acknowledge the router's queued commands: they stay in its session.
      customHandleAcks: (_topic, _message, _packet, done) => done(new Error("takeover does not ack")),
    });
    impostors.add(impostor);
    impostor.on("error", () => {});
    const hold = setTimeout(() => impostor.end(), options.takeoverHoldMs ?? 2_000);
    impostor.on("close", () => {
      clearTimeout(hold);
      impostor.end(true);
      impostors.delete(impostor);
    });
  }

  function applyChurn(kind: ChurnKind): void {
    const router = pickOnline();
    if (!router) return;
    churned[kind]++;
    const id = router.options.id;
    switch (kind) {
      case "disconnect":
        rebootLater(id);
        void retire(router);
        break;
      case "halfOpen": {
        const socket = detachSocket(router.device);
        if (socket) zombies.hold(socket);
        rebootLater(id);
        void retire(router);
        break;
      }
      case "takeover":
        takeOver(router);
        break;
      case "vanish": {
        const socket = detachSocket(router.device);
        if (socket) zombies.hold(socket);
        void retire(router);
        if (options.replaceVanished ?? true) startBoot(`${prefix}${nextIndex++}`);
        break;
      }
    }
  }

  const start = options.startIndex ?? 0;
  const rampMs = options.rampMs ?? 0;
  for (let i = 0; i < options.routers; i++) {
    const id = `${prefix}${start + i}`;
    if (rampMs > 0) {
      const timer = setTimeout(
        () => {
          rampTimers.delete(timer);
          startBoot(id);
        },
        (rampMs * i) / options.routers,
      );
      rampTimers.add(timer);
    } else {
      startBoot(id);
    }
  }
  let stopChurn = scheduleChurn(churnRates, applyChurn, random);

  const stats = (): SimulationStats => {
    let connected = 0;
    let reconnecting = 0;
    let eventsPublished = retired.eventsPublished;
    let droppedEvents = retired.droppedEvents;
    for (const router of live.values()) {
      const s = router.device.stats();
      if (s.status === "online") connected++;
      else reconnecting++;
      eventsPublished += s.eventsPublished;
      droppedEvents += s.droppedEvents;
    }
    return {
      routers: live.size + rebooting.size + booting.size,
      connected,
      reconnecting,
      down: rebooting.size,
      commandsAnswered: counts.commandsAnswered,
      eventsPublished,
      droppedEvents,
      churn: { ...churned },
      zombieSockets: zombies.size,
      errors: counts.errors,
      lastError: counts.lastError,
    };
  };

  return {
    stats,
    setChurn(rates) {
      stopChurn();
      if (!stopped) stopChurn = scheduleChurn({ ...NO_CHURN, ...rates }, applyChurn, random);
    },
    routerIds: () => [...live.keys(), ...rebooting.keys(), ...booting],
    truth(id) {
      const router = live.get(id);
      if (router) return { online: router.online, state: router.online ? router.device.state : null };
      return rebooting.has(id) ? { online: false, state: null } : null;
    },
    async waitConnected(count = options.routers, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (stats().connected < count) {
        if (stopped) throw new Error("simulation stopped");
        if (Date.now() > deadline) throw new Error(`only ${stats().connected}/${count} routers connected`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      stopChurn();
      for (const timer of rampTimers) clearTimeout(timer);
      rampTimers.clear();
      for (const timer of rebooting.values()) clearTimeout(timer);
      rebooting.clear();
      // A boot awaiting its password sees `stopped` and creates no router; wait for it, or a
      // router still counted as booting would outlive stop().
      await Promise.all(inFlight);
      await Promise.all([...live.values()].map((router) => retire(router)));
      await Promise.all([...impostors].map((impostor) => impostor.endAsync(true)));
      impostors.clear();
      zombies.closeAll();
    },
  };
}
