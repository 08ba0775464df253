import { DurableObject } from "cloudflare:workers";
import {
  type CommandResult,
  type CommandStatus,
  type DeviceView,
  ErrorCode,
  parseJson,
  type TetherEvent,
} from "../../../protocol/src/index.js";
import { JWT_LEEWAY_SECONDS, socketDeadlineMs } from "../auth/client-token.js";
import type { BrokerAnswer } from "../broker-client.js";
import { edgeConfig } from "../config/config-guard.js";
import type { EdgeEnv } from "../env.js";
import { errorResponse } from "../http-errors.js";
import { forwardJobResult, type JobCommand, sendJobCommand } from "../jobs/channel-hooks.js";
import { type ChannelLimits, channelLimits, MAX_CUTOFFS_PER_DEVICE } from "../limits.js";
import { ClientFrameSchema, describeIssue } from "../schemas.js";
import { broadcast, sendFrame } from "./broadcast.js";
import { onCommandFrame } from "./command-frame.js";
import { CommandLog, resultOfEvent } from "./command-log.js";
import { CommandSlots } from "./command-slots.js";
import { type ConnectRequest, parseConnectRequest } from "./connect-request.js";
import { onDesiredFrame } from "./desired-frame.js";
import { DesiredState, type DesiredView, type PatchAnswer, patchAnswer } from "./desired-state.js";
import { DeviceStore } from "./device-store.js";
import { errorFrame, snapshotFrame } from "./frames.js";
import { admitFrame, frameId, socketBoundRefusal, userTag } from "./socket-admission.js";
import { CloseCode, closeExpired, closeWithError, nextDeadline } from "./socket-lifetime.js";
import { readSession, type SocketSession, writeSession } from "./socket-session.js";
import { renewSession } from "./token-renewal.js";
import { UserCutoffs } from "./user-cutoffs.js";

export { CloseCode } from "./socket-lifetime.js";

/**
 * Owns one device's live channel: the sockets of every mobile and web client
 * watching it (hibernatable, so idle sockets cost nothing), the device's view and
 * its recent events (in SQLite, so hibernation loses nothing), and the users Rails
 * cut off from it. Each socket lives until its token's `exp`: one alarm, set to the
 * earliest deadline, wakes even a hibernated object to close it (4401). Platform
 * entry points stay thin and hand off to the hooks below them.
 */
export class DeviceChannel extends DurableObject<EdgeEnv> {
  private readonly store: DeviceStore;
  private readonly cutoffs: UserCutoffs;
  private readonly commands: CommandLog;
  private readonly limits: ChannelLimits;
  private readonly commandSlots: CommandSlots;
  /** Desired state and its hand-off to the broker (issue 15). */
  private readonly desired: DesiredState;
  /** The clock; a test may replace it. */
  now: () => number = () => Date.now();

  constructor(ctx: DurableObjectState, env: EdgeEnv) {
    super(ctx, env);
    this.limits = channelLimits(env);
    this.store = new DeviceStore(ctx.storage.sql, this.limits.recentEvents);
    this.cutoffs = new UserCutoffs(ctx.storage.sql, MAX_CUTOFFS_PER_DEVICE);
    this.commandSlots = new CommandSlots(
      this.limits.maxCommandsInFlight,
      this.limits.maxCommandsInFlightPerUser,
    );
    this.commands = new CommandLog(ctx.storage.sql);
    this.desired = new DesiredState(ctx.storage.sql, {
      env,
      now: () => this.now(),
      deviceId: () => this.store.deviceId(),
      reported: () => this.store.reported(),
      scheduleAlarm: (atMs) => this.scheduleAlarm(atMs),
      broadcast: (frame) => broadcast(this.ctx.getWebSockets(), frame),
    });
    // Keepalives are answered by the runtime and never wake a hibernated object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  }

  /** RPC for `GET /v1/devices/{id}`: the stored view with its desired state, no broker call. */
  view(deviceId: string): DeviceView & DesiredView {
    return { ...this.store.view(deviceId), ...this.desired.view() };
  }

  /**
   * RPC for `PATCH /v1/devices/{id}/desired`: a merge patch, optionally If-Match (issue 15).
   * Answers status and JSON body (RPC cannot carry `unknown` values in a typed union).
   */
  async patchDesired(deviceId: string, patch: unknown, ifVersion: number | null): Promise<PatchAnswer> {
    this.store.claim(deviceId);
    return patchAnswer(await this.desired.patch(patch, ifVersion));
  }

  /** RPC for `GET /v1/devices/{id}/commands/{commandId}`: where a command stands, or null. */
  commandStatus(deviceId: string, commandId: string): CommandStatus | null {
    return this.commands.get(deviceId, commandId, this.now());
  }

  /** RPC from a FleetJob (issue 16): the job's command to this device, sent from this object. */
  jobCommand(deviceId: string, command: JobCommand): Promise<BrokerAnswer> {
    return sendJobCommand(this.env, deviceId, command);
  }

  /** RPC: a Rails command is about to go to the broker (`pending`). */
  commandSent(deviceId: string, commandId: string): void {
    this.store.claim(deviceId);
    this.commands.pending(commandId, this.now());
  }

  /** RPC: the broker's answer to a Rails command: 202 (`queued` until `expiresAt`) or a final result. */
  commandAnswered(deviceId: string, commandId: string, answer: { expiresAt: number } | CommandResult): void {
    this.store.claim(deviceId);
    if ("expiresAt" in answer) this.commands.queued(commandId, answer.expiresAt, this.now());
    else this.commands.done({ ...answer, id: commandId }, this.now(), false);
  }

  /** RPC for `POST /internal/events`: stores this device's events in order, broadcasting each. */
  async deliver(deviceId: string, events: TetherEvent[]): Promise<number> {
    this.store.claim(deviceId);
    const desiredBefore = this.desired.view();
    const sockets = this.ctx.getWebSockets();
    let applied = 0;
    for (const event of events) {
      if (event.deviceId !== deviceId) throw new Error(`event of ${event.deviceId} sent to ${deviceId}`);
      // A queued command's end: its final status, whatever the HTTP answer said before.
      if (event.type === "command_result") this.commands.done(resultOfEvent(event), this.now(), true);
      if (!this.store.apply(event)) continue;
      applied++;
      broadcast(sockets, event);
    }
    await this.desired.observe(events, desiredBefore);
    await Promise.all(events.map((event) => forwardJobResult(this.env, event))); // issue 16: fleet jobs
    return applied;
  }

  /**
   * RPC for `POST /v1/users/{sub}/disconnect`: closes every socket of `user` (4403)
   * and refuses the tokens they already hold until those have expired. Returns how
   * many sockets were closed.
   */
  async disconnectUser(deviceId: string, user: string): Promise<number> {
    this.store.claim(deviceId);
    const now = this.now();
    const { maxTtlSeconds } = edgeConfig(this.env).clientJwt;
    const expiresAt = now + (maxTtlSeconds + JWT_LEEWAY_SECONDS) * 1000;
    this.cutoffs.record(user, now, expiresAt);
    const sockets = this.ctx.getWebSockets(userTag(user));
    for (const ws of sockets) {
      closeWithError(ws, CloseCode.Forbidden, ErrorCode.Forbidden, "access to this device was withdrawn");
    }
    await this.scheduleAlarm(expiresAt);
    return sockets.length;
  }

  override async fetch(request: Request): Promise<Response> {
    const connect = parseConnectRequest(request);
    if (!connect || request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return errorResponse(400, ErrorCode.InvalidRequest, "expected a WebSocket connect from the edge");
    }
    return this.onConnect(connect);
  }

  /** Closes the sockets whose token expired, forgets expired cut-offs, and sets the next alarm. */
  override async alarm(): Promise<void> {
    const now = this.now();
    const sockets = this.ctx.getWebSockets();
    closeExpired(sockets, now);
    this.cutoffs.purge(now);
    await this.desired.alarm();
    const candidates = [nextDeadline(sockets, now), this.cutoffs.nextExpiry(), this.desired.nextDue()].filter(
      (t) => t !== null,
    );
    if (candidates.length > 0) await this.ctx.storage.setAlarm(Math.min(...candidates));
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const session = readSession(ws);
    if (!session) {
      ws.close(CloseCode.InternalError, "socket session lost");
      return;
    }
    // The alarm may run late; a frame never outlives the token.
    if (session.deadline <= this.now()) {
      closeExpired([ws], this.now());
      return;
    }
    if (!admitFrame(ws, session, message, this.limits, this.now())) return;
    if (typeof message !== "string") {
      sendFrame(ws, errorFrame(ErrorCode.InvalidFrame, "binary frames are not accepted"));
      return;
    }
    await this.onMessage(ws, message);
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    // Complete the closing handshake; the runtime drops the socket and its attachment.
    try {
      ws.close(CloseCode.Normal, code === CloseCode.Normal ? reason : "closing");
    } catch {
      // Already closed (auto-reply to close): nothing left to release.
    }
  }

  override async webSocketError(ws: WebSocket, error: unknown): Promise<void> {
    console.warn("edge: socket error", { tags: this.ctx.getTags(ws), error: String(error) });
    try {
      ws.close(CloseCode.InternalError, "socket error");
    } catch {
      // Already closed.
    }
  }

  private async onConnect(connect: ConnectRequest): Promise<Response> {
    this.store.claim(connect.deviceId);
    const now = this.now();
    if (this.cutoffs.refuses(connect.user, connect.iat, now)) {
      return errorResponse(
        403,
        ErrorCode.Forbidden,
        "access to this device was withdrawn; the token predates it",
      );
    }
    const { 0: client, 1: server } = new WebSocketPair();
    const headers = connect.subprotocol ? { "sec-websocket-protocol": connect.subprotocol } : undefined;
    const refusal = socketBoundRefusal(this.ctx, this.limits, connect.user);
    if (refusal !== null) {
      // Accepted only to say why: a browser cannot read an HTTP refusal of an upgrade.
      server.accept();
      sendFrame(server, errorFrame(ErrorCode.TooManySockets, refusal));
      server.close(CloseCode.TryAgainLater, "too many sockets");
      return new Response(null, { status: 101, webSocket: client, headers });
    }
    const session: SocketSession = {
      connectionId: crypto.randomUUID(),
      kind: connect.kind,
      user: connect.user,
      connectedAt: now,
      deadline: socketDeadlineMs(connect),
      mayCommand: connect.mayCommand,
      tokens: this.limits.rateBurst,
      refilledAt: now,
    };
    this.ctx.acceptWebSocket(server, [session.connectionId, `kind:${session.kind}`, userTag(session.user)]);
    writeSession(server, session);
    sendFrame(server, snapshotFrame(this.view(connect.deviceId), this.store.recent()));
    await this.scheduleAlarm(session.deadline);
    return new Response(null, { status: 101, webSocket: client, headers });
  }

  /** One alarm per object: moved earlier when `atMs` comes before the one set. */
  private async scheduleAlarm(atMs: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || atMs < current) await this.ctx.storage.setAlarm(atMs);
  }

  private async onMessage(ws: WebSocket, text: string): Promise<void> {
    const json = parseJson(text);
    if (!json.ok) {
      sendFrame(ws, errorFrame(ErrorCode.InvalidFrame, json.message));
      return;
    }
    const frame = ClientFrameSchema.safeParse(json.value);
    if (!frame.success) {
      sendFrame(ws, errorFrame(ErrorCode.InvalidFrame, describeIssue(frame.error), frameId(json.value)));
      return;
    }
    const deviceId = this.store.deviceId();
    // The session as admit() left it (with its bucket updated).
    const session = readSession(ws);
    if (deviceId === null || session === null) {
      ws.close(CloseCode.InternalError, "channel has no device");
      return;
    }
    if (frame.data.type === "auth") await this.onAuth(ws, session, deviceId, frame.data.token);
    else if (frame.data.type === "desired") await onDesiredFrame(ws, session, frame.data, this.desired);
    else {
      const context = { env: this.env, slots: this.commandSlots, now: () => this.now() };
      await onCommandFrame(ws, session, deviceId, frame.data, context);
    }
  }

  /** `auth`: a fresh token for the same user moves the socket's deadline (and its `cmd` grant). */
  private async onAuth(
    ws: WebSocket,
    session: SocketSession,
    deviceId: string,
    token: string,
  ): Promise<void> {
    const renewal = await renewSession(session, token, {
      deviceId,
      policy: edgeConfig(this.env).clientJwt,
      cutoffs: this.cutoffs,
      nowMs: this.now(),
    });
    if (!renewal.ok) {
      sendFrame(ws, errorFrame(renewal.code, renewal.message));
      return;
    }
    // Frames read while the token was being verified may have moved the bucket: keep it.
    const { deadline, mayCommand } = renewal.session;
    writeSession(ws, { ...(readSession(ws) ?? renewal.session), deadline, mayCommand });
    await this.scheduleAlarm(deadline);
    sendFrame(ws, renewal.frame);
  }
}
