import { DurableObject } from "cloudflare:workers";
import {
  type CommandResult,
  type CommandStatus,
  type DeviceView,
  ErrorCode,
  parseJson,
  type TetherEvent,
} from "../../../protocol/src/index.js";
import type { EdgeEnv } from "../env.js";
import { errorResponse } from "../http-errors.js";
import { type ChannelLimits, channelLimits } from "../limits.js";
import { CommandFrameSchema, describeIssue } from "../schemas.js";
import { broadcast, sendFrame } from "./broadcast.js";
import { CommandLog, resultOfEvent } from "./command-log.js";
import { relayCommand } from "./command-relay.js";
import { type ConnectRequest, parseConnectRequest } from "./connect-request.js";
import { DeviceStore } from "./device-store.js";
import { errorFrame, snapshotFrame } from "./frames.js";
import { readSession, type SocketSession, takeToken, writeSession } from "./socket-session.js";

const encoder = new TextEncoder();

/** Close codes this object uses (docs/EDGE.md, "Close codes"). */
export const CloseCode = {
  Normal: 1000,
  InternalError: 1011,
  TryAgainLater: 1013,
} as const;

/**
 * Owns one device's live channel: the sockets of every mobile and web client
 * watching it (hibernatable, so idle sockets cost nothing), the device's view and
 * its recent events (in SQLite, so hibernation loses nothing). Platform entry
 * points stay thin and hand off to the hooks below them.
 */
export class DeviceChannel extends DurableObject<EdgeEnv> {
  private readonly store: DeviceStore;
  private readonly commands: CommandLog;
  private readonly limits: ChannelLimits;
  /** The clock; a test may replace it. */
  now: () => number = () => Date.now();

  constructor(ctx: DurableObjectState, env: EdgeEnv) {
    super(ctx, env);
    this.limits = channelLimits(env);
    this.store = new DeviceStore(ctx.storage.sql, this.limits.recentEvents);
    this.commands = new CommandLog(ctx.storage.sql);
    // Keepalives are answered by the runtime and never wake a hibernated object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  }

  /** RPC for `GET /v1/devices/{id}`: the stored view, no broker call. */
  view(deviceId: string): DeviceView {
    return this.store.view(deviceId);
  }

  /** RPC for `GET /v1/devices/{id}/commands/{commandId}`: where a command stands, or null. */
  commandStatus(deviceId: string, commandId: string): CommandStatus | null {
    return this.commands.get(deviceId, commandId, this.now());
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
  deliver(deviceId: string, events: TetherEvent[]): number {
    this.store.claim(deviceId);
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
    return applied;
  }

  override async fetch(request: Request): Promise<Response> {
    const connect = parseConnectRequest(request);
    if (!connect || request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return errorResponse(400, ErrorCode.InvalidRequest, "expected a WebSocket connect from the edge");
    }
    return this.onConnect(connect);
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const session = readSession(ws);
    if (!session) {
      ws.close(CloseCode.InternalError, "socket session lost");
      return;
    }
    if (!this.admit(ws, session, message)) return;
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

  private onConnect(connect: ConnectRequest): Response {
    this.store.claim(connect.deviceId);
    const { 0: client, 1: server } = new WebSocketPair();
    const headers = connect.subprotocol ? { "sec-websocket-protocol": connect.subprotocol } : undefined;
    if (this.ctx.getWebSockets().length >= this.limits.maxSockets) {
      // Accepted only to say why: a browser cannot read an HTTP refusal of an upgrade.
      server.accept();
      sendFrame(
        server,
        errorFrame(ErrorCode.TooManySockets, `at most ${this.limits.maxSockets} sockets per device`),
      );
      server.close(CloseCode.TryAgainLater, "too many sockets");
      return new Response(null, { status: 101, webSocket: client, headers });
    }
    const now = this.now();
    const session: SocketSession = {
      connectionId: crypto.randomUUID(),
      kind: connect.kind,
      user: connect.user,
      connectedAt: now,
      tokens: this.limits.rateBurst,
      refilledAt: now,
    };
    this.ctx.acceptWebSocket(server, [session.connectionId, `kind:${session.kind}`, `user:${session.user}`]);
    writeSession(server, session);
    sendFrame(server, snapshotFrame(this.store.view(connect.deviceId), this.store.recent()));
    return new Response(null, { status: 101, webSocket: client, headers });
  }

  /** Rate limit, then size: false (with an error frame sent) when the frame is refused. */
  private admit(ws: WebSocket, session: SocketSession, message: string | ArrayBuffer): boolean {
    const taken = takeToken(session, this.now(), {
      ratePerSecond: this.limits.ratePerSecond,
      burst: this.limits.rateBurst,
    });
    writeSession(ws, taken.session);
    if (!taken.allowed) {
      const rate = `${this.limits.ratePerSecond}/s, burst ${this.limits.rateBurst}`;
      sendFrame(ws, errorFrame(ErrorCode.RateLimited, `too many frames (${rate})`));
      return false;
    }
    const size = typeof message === "string" ? encoder.encode(message).byteLength : message.byteLength;
    if (size > this.limits.maxFrameBytes) {
      const limit = `${size} bytes > ${this.limits.maxFrameBytes}`;
      sendFrame(ws, errorFrame(ErrorCode.FrameTooLarge, `frame dropped (${limit})`));
      return false;
    }
    return true;
  }

  private async onMessage(ws: WebSocket, text: string): Promise<void> {
    const json = parseJson(text);
    if (!json.ok) {
      sendFrame(ws, errorFrame(ErrorCode.InvalidFrame, json.message));
      return;
    }
    const frame = CommandFrameSchema.safeParse(json.value);
    if (!frame.success) {
      sendFrame(ws, errorFrame(ErrorCode.InvalidFrame, describeIssue(frame.error), frameId(json.value)));
      return;
    }
    const deviceId = this.store.deviceId();
    if (deviceId === null) {
      ws.close(CloseCode.InternalError, "channel has no device");
      return;
    }
    const commandId = frame.data.id ?? crypto.randomUUID();
    sendFrame(ws, await relayCommand(this.env, deviceId, commandId, frame.data, this.now));
  }
}

/** The `id` of a refused frame, when it has a usable one, so the client can match the error. */
function frameId(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null || !("id" in value)) return undefined;
  const id = value.id;
  return typeof id === "string" && id.length > 0 && id.length <= 128 ? id : undefined;
}
