import { randomUUID } from "node:crypto";
import { Aedes, type Client } from "aedes";
import pino from "pino";
import type { BrokerOptions, RunningBroker } from "./broker-types.js";
import { systemClock, TrackedClock } from "./clock.js";
import { PendingCommands } from "./commands/pending.js";
import { QueuedCommandExpiry } from "./commands/queued-expiry.js";
import { OFFLINE_TOPIC, subscribeResultBus } from "./commands/result-bus.js";
import { CommandRouter } from "./commands/router.js";
import { StandingQueues } from "./commands/standing-queue.js";
import type { BrokerContext, EventSink } from "./context.js";
import { DesiredDelivery } from "./desired/desired-delivery.js";
import { desiredMetrics } from "./desired/desired-metrics.js";
import { MemoryDesiredStore } from "./desired/desired-store.js";
import { RedisDesiredStore } from "./desired/redis-desired-store.js";
import { NodeLiveness } from "./devices/node-liveness.js";
import { OnlineRoster } from "./devices/online-roster.js";
import { Revocations } from "./devices/revocation.js";
import { memoryGauges } from "./diagnostics/index.js";
import { startOperationalDiagnostics } from "./diagnostics/operational.js";
import { createForwarder } from "./forwarder/create-forwarder.js";
import { createHttpApp } from "./http/app.js";
import { createHttpServer } from "./http/server.js";
import { createShedding } from "./http/shed.js";
import { createCommandAdmission } from "./limits/create-command-admission.js";
import { createLimits } from "./limits/create-limits.js";
import { limiterGauges } from "./limits/gauges.js";
import { createBrokerLogs } from "./logging/broker-logs.js";
import { createBrokerMetrics } from "./metrics.js";
import { createAuthorizeForward, createAuthorizePublish, createAuthorizeSubscribe } from "./mqtt/acl.js";
import { createAuthenticate, createPreConnect } from "./mqtt/auth.js";
import { closeAedes, publishAsync } from "./mqtt/bus.js";
import { DeviceConnections } from "./mqtt/connections.js";
import { watchClientErrors } from "./mqtt/errors.js";
import { routeExactTopics } from "./mqtt/exact-topics.js";
import { createPublished } from "./mqtt/ingest.js";
import { OwnedClients } from "./mqtt/owned-clients.js";
import { createPublishGate } from "./mqtt/publish-gate.js";
import { guardRegistration, takeOverId } from "./mqtt/registration.js";
import { createMqttServer, listen } from "./mqtt/server.js";
import { drainHttp, localDeviceClients, withTimeout } from "./node-helpers.js";
import { installEmptyOutgoingShortcut } from "./sessions/empty-outgoing.js";
import { SessionReaper } from "./sessions/reaper.js";
import { createSessionParts } from "./sessions/session-parts.js";
import { resolveSettings } from "./settings.js";

export type { BrokerOptions, RunningBroker } from "./broker-types.js";
export type { Clock } from "./clock.js";
export { ManualClock } from "./clock.js";
export type { BrokerMetrics } from "./metrics.js";

/** How long close() waits for the forwarder to deliver what it holds. */
const CLOSE_FLUSH_MS = 5_000;
/**
 * Aedes's window of inbound QoS 2 publishes awaiting PUBREL, per client (its default is
 * 1,000 × MAX_PAYLOAD_BYTES). Devices' QoS 2 publishes are refused before Aedes stores
 * them (mqtt/acl.ts), so this is never reached: it is the bound if that check is bypassed.
 */
const MAX_INFLIGHT_INBOUND = 8;
/**
 * The HTTP listener's accept queue (connections; the kernel caps it at net.core.somaxconn).
 * Node's default, 511, overflowed when a client fleet opened ~2,000 connections at once
 * while the loop was busy: the kernel then drops the handshake and the client resends after
 * 1, 2, 4 s — requests answered seconds late although the broker never saw them (issue 17,
 * docs/BENCHMARKS.md "Overload: reading the runs").
 */
const HTTP_LISTEN_BACKLOG = 4_096;

/**
 * Starts one broker node: Aedes on TCP (or TLS), the HTTP API, the session
 * reaper and the event forwarder; on Redis when `redisUrl` is set.
 *
 * @example
 *   const broker = await startBroker({ deviceSecret, brokerApiToken, mqttPort: 0, httpPort: 0 });
 *   // ... broker.mqttUrl, broker.httpUrl
 *   await broker.close();
 */
export async function startBroker(options: BrokerOptions): Promise<RunningBroker> {
  const { clock: injectedClock, logger: injectedLogger, fetch: injectedFetch, ...config } = options;
  const settings = resolveSettings(config);
  const clock = new TrackedClock(injectedClock ?? systemClock);
  const nodeId = randomUUID();
  const logger = (injectedLogger ?? pino({ level: settings.logLevel })).child({ node: nodeId.slice(0, 8) });
  const metrics = createBrokerMetrics();

  const logs = createBrokerLogs(logger, settings.logIntervalMs);
  const { persistence, store, redisParts } = createSessionParts(
    settings,
    { clock, logger },
    (deviceId, dropped) => {
      metrics.refusals.inc({ reason: "session_queue_full" }, dropped);
      logs.refusals.record("session_queue_full", { deviceId, dropped });
    },
  );

  const forwarder = createForwarder(settings, logger, metrics, injectedFetch);
  const sink: EventSink = forwarder ?? { push: () => {}, pushEncoded: () => {} };
  const ctx: BrokerContext = { settings, nodeId, clock, logger, logs, metrics, store, events: sink };
  // Memory mode: the online roster sees presence go by on its way to the forwarder.
  const roster =
    !redisParts && settings.stateDir
      ? new OnlineRoster(ctx, sink, { dir: settings.stateDir, onlineDevices: () => owned.onlineDevices() })
      : undefined;
  if (roster) ctx.events = roster;

  const pending = new PendingCommands(clock, {
    maxGlobal: settings.maxPendingCommands,
    maxPerDevice: settings.maxPendingPerDevice,
    onChange: (size) => metrics.pendingCommands.set(size),
    queues: new StandingQueues({
      targetMs: settings.commandQueueTargetMs,
      intervalMs: settings.commandQueueIntervalMs,
      maxDevices: settings.maxTrackedDevices,
      clock,
    }),
    onQueued: (queuedMs) => metrics.commandQueueing.observe(queuedMs / 1000),
  });
  let aedes: Aedes | undefined;
  let shuttingDown = false;
  const connections = new DeviceConnections(
    ctx,
    (deviceId) => {
      // During shutdown the bus is closing; close() answers every pending command itself.
      if (aedes && !shuttingDown) void publishAsync(aedes, OFFLINE_TOPIC, deviceId);
    },
    (client) => {
      if (aedes && !shuttingDown) takeOverId(aedes, client);
    },
  );
  const { admission, publishLimiter } = createLimits(settings, () => clock.now());

  aedes = await Aedes.createBroker({
    id: nodeId,
    persistence,
    ...(redisParts ? { mq: redisParts.mq } : {}),
    connectTimeout: settings.connectTimeoutMs,
    // Above the contract's 4 levels so that our ACL, not Aedes, refuses and counts deeper topics.
    maxTopicLevels: 16,
    drainTimeout: 30_000,
    maxInflightInbound: MAX_INFLIGHT_INBOUND,
    preConnect: createPreConnect(ctx),
    authenticate: createAuthenticate(ctx, connections, { admission, publishLimiter }),
    authorizePublish: createAuthorizePublish(ctx),
    authorizeSubscribe: createAuthorizeSubscribe(ctx),
    authorizeForward: createAuthorizeForward(ctx, (deviceId) => publishLimiter.credit(deviceId)),
    published: createPublished(ctx),
  });
  const broker = aedes;
  // Memory mode: routers' exact-topic subscriptions in one Map, not mqemitter's trie (issue 14).
  if (!redisParts && !routeExactTopics(Reflect.get(broker, "mq"))) {
    logger.error("exact-topic routing not installed: Aedes's mq is not the mqemitter expected");
  }
  // Memory mode: a CONNECT with nothing queued skips Aedes's empty pipeline (issue 14).
  if (!redisParts && !installEmptyOutgoingShortcut()) {
    logger.error("empty-queue shortcut not installed: node:stream has no pipeline function");
  }
  // A socket that closes while Aedes loads its session must neither unregister the router's
  // live connection nor be registered itself (mqtt/registration.ts).
  if (!guardRegistration(broker))
    logger.error("registration guard not installed: Aedes is not the shape expected");
  broker.on("client", (client: Client) => connections.registered(client));
  watchClientErrors(ctx, broker, connections, admission);

  const owned = new OwnedClients(broker, connections, settings.maxKeepaliveSeconds * 1500 + 1);
  const liveness = redisParts
    ? new NodeLiveness(ctx, {
        redis: redisParts.redis,
        prefix: settings.redisKeyPrefix,
        heartbeatMs: settings.nodeHeartbeatMs,
        ttlMs: settings.nodeTtlMs,
        onSwept: (deviceId) => void publishAsync(broker, OFFLINE_TOPIC, deviceId),
        ownConnections: () => owned.connections(),
      })
    : undefined;

  const router = new CommandRouter(ctx, broker, persistence, pending);
  const desiredStore = redisParts
    ? new RedisDesiredStore(redisParts.redis, settings.redisKeyPrefix, settings.sessionExpirySeconds)
    : new MemoryDesiredStore(settings.maxDesiredBytes);
  const desired = new DesiredDelivery(
    ctx,
    broker,
    desiredStore,
    desiredMetrics(metrics.registry, desiredStore),
  );
  desired.start();
  await subscribeResultBus(broker, pending, router);

  /** Live-object counts: leak tests, the memory log, /metrics gauges and /debug/memory. */
  async function stats() {
    const counts = await store.counts();
    metrics.sessions.set(counts.persistentSessions);
    return {
      clients: broker.connectedClients,
      persistentSessions: counts.persistentSessions,
      pendingCommands: pending.size,
      forwarderQueue: forwarder?.depth ?? 0,
      timers: clock.liveTimers,
    };
  }
  memoryGauges(metrics.registry, stats);
  limiterGauges(metrics.registry, admission, publishLimiter);

  const revocations = new Revocations(ctx, {
    aedes: broker,
    connections,
    persistence,
    localClients: () => localDeviceClients(broker, connections),
    shared: Boolean(redisParts),
  });

  const { loopLag, commandAdmission } = createCommandAdmission(settings, metrics, clock);
  const app = createHttpApp({
    counts: stats,
    brokerApiToken: settings.brokerApiToken,
    revocations,
    desired,
    router,
    store,
    metrics,
    logger,
    maxBodyBytes: settings.maxPayloadBytes,
    health: {
      ...(forwarder ? { edge: () => forwarder.edgeProblem() } : {}),
      ...(redisParts ? { redis: () => redisParts.unreachable() } : {}),
    },
  });
  const mqttServer = await createMqttServer(ctx, broker, {
    admission,
    gate: createPublishGate(ctx, publishLimiter, connections),
  });
  const httpServer = await createHttpServer(app, {
    tlsCertFile: settings.httpTlsCertFile,
    tlsKeyFile: settings.httpTlsKeyFile,
    keepAlive: {
      keepAliveSeconds: settings.httpKeepAliveSeconds,
      maxIdleConnections: settings.httpMaxIdleConnections,
    },
    brokerApiToken: settings.brokerApiToken,
    front: createShedding(commandAdmission, metrics, {
      brokerApiToken: settings.brokerApiToken,
      refusal: (deviceId) => pending.refusal(deviceId),
    }),
  });
  const reaper = new SessionReaper(ctx, persistence);
  const expiry = new QueuedCommandExpiry(ctx);

  let mqttPort: number;
  let httpPort: number;
  try {
    await liveness?.start();
    await revocations.start();
    // Before the listeners: a device that reconnects at once must find itself awaited.
    await roster?.start();
    mqttPort = await listen(mqttServer, settings.mqttPort, settings.host);
    httpPort = await listen(
      httpServer as unknown as import("node:net").Server,
      settings.httpPort,
      settings.host,
      HTTP_LISTEN_BACKLOG,
    );
  } catch (error) {
    liveness?.stop();
    await revocations.stop();
    await roster?.close().catch(() => {});
    logs.close();
    mqttServer.close();
    await closeAedes(broker);
    await persistence.destroy().catch(() => {});
    await redisParts?.close();
    throw error;
  }
  reaper.start();
  expiry.start();
  loopLag.start();
  const stopDiagnostics = startOperationalDiagnostics(settings, logger, metrics.registry, stats);
  const mqttScheme = settings.tlsCertFile ? "mqtts" : "mqtt";
  const httpScheme = settings.httpTlsCertFile ? "https" : "http";
  logger.info({ mqttPort, httpPort, redis: Boolean(redisParts) }, "broker started");

  let closing: Promise<void> | undefined;
  async function close(): Promise<void> {
    desired.stop();
    reaper.stop();
    expiry.stop();
    loopLag.stop();
    await revocations.stop();
    stopDiagnostics();
    const mqttClosed = new Promise<void>((resolve) => mqttServer.close(() => resolve()));
    const httpClosed = new Promise<void>((resolve) => httpServer.close(() => resolve()));
    shuttingDown = true;
    connections.beginShutdown();
    await closeAedes(broker);
    await connections.settle();
    await liveness
      ?.leave()
      .catch((error: unknown) => logger.warn({ err: error }, "could not remove the node heartbeat"));
    pending.closeAll();
    router.close();
    await roster
      ?.close()
      .catch((error: unknown) => logger.warn({ err: error }, "could not write the online roster"));
    // Let the answers to those commands go out, then cut what is left.
    await drainHttp(httpServer, httpClosed, 2_000);
    await forwarder?.close(CLOSE_FLUSH_MS);
    await withTimeout(persistence.destroy(), 2_000).catch((error: unknown) =>
      logger.warn({ err: error }, "persistence did not close cleanly"),
    );
    await store.close();
    await redisParts?.close();
    await Promise.all([mqttClosed, httpClosed]);
    admission.clear();
    publishLimiter.clear();
    logs.close();
    logger.info("broker closed");
  }

  return {
    mqttPort,
    httpPort,
    mqttUrl: `${mqttScheme}://${settings.host}:${mqttPort}`,
    httpUrl: `${httpScheme}://${settings.host}:${httpPort}`,
    nodeId,
    metrics,
    stats,
    expireQueuedCommands: () => expiry.run(),
    reapExpiredSessions: () => reaper.run(),
    sweepDeadNodes: () => liveness?.sweep() ?? Promise.resolve(0),
    close() {
      closing ??= close();
      return closing;
    },
  };
}
