import { ErrorCode } from "../../../protocol/src/index.js";
import type { JobView } from "./job-schemas.js";
import type { JobMeta, JobStore } from "./job-store.js";
import { jobFrame } from "./job-view.js";

/** At most one `job` frame per this interval (a terminal status is sent at once). */
export const FRAME_INTERVAL_MS = 250;
/** Progress sockets per job; one more is refused 429 by the route's object. */
export const MAX_SOCKETS_PER_JOB = 50;
/** Header the route sets on the internal connect request: when the socket must close (epoch ms). */
export const DEADLINE_HEADER = "x-tether-socket-deadline";
/** Header the route sets when the client offered the `tether` subprotocol (it is echoed). */
export const SUBPROTOCOL_HEADER = "x-tether-subprotocol";

interface Attachment {
  deadline: number;
}

function deadlineOf(ws: WebSocket): number {
  const value: unknown = ws.deserializeAttachment();
  if (
    typeof value === "object" &&
    value !== null &&
    "deadline" in value &&
    typeof value.deadline === "number"
  ) {
    return value.deadline;
  }
  return 0;
}

function send(ws: WebSocket, frame: unknown): void {
  try {
    ws.send(JSON.stringify(frame));
  } catch {
    // A closing socket: its close handler releases it.
  }
}

/**
 * The job's progress sockets (hibernatable: an idle watcher costs nothing). Each gets
 * the job at once, then `job` frames at most every FRAME_INTERVAL_MS while counts move,
 * and is closed at its token's deadline (4401) or when the job is deleted.
 */
export class ProgressSockets {
  private lastFrameAt = 0;
  private dirty = false;

  constructor(private readonly ctx: DurableObjectState) {}

  accept(request: Request, view: JobView, now: number): Response {
    const deadline = Number(request.headers.get(DEADLINE_HEADER));
    const protocol = request.headers.get(SUBPROTOCOL_HEADER);
    const headers = protocol ? { "sec-websocket-protocol": protocol } : undefined;
    const { 0: client, 1: server } = new WebSocketPair();
    if (this.ctx.getWebSockets().length >= MAX_SOCKETS_PER_JOB) {
      server.accept();
      const message = `at most ${MAX_SOCKETS_PER_JOB} sockets per job`;
      send(server, { type: "error", error: { code: ErrorCode.TooManySockets, message } });
      server.close(1013, "too many sockets");
      return new Response(null, { status: 101, webSocket: client, headers });
    }
    this.ctx.acceptWebSocket(server);
    const attachment: Attachment = { deadline: Number.isFinite(deadline) && deadline > now ? deadline : now };
    server.serializeAttachment(attachment);
    const { id, status, total, counts, percent } = view;
    send(server, { type: "job", id, status, total, counts, percent, ts: now });
    return new Response(null, { status: 101, webSocket: client, headers });
  }

  /** Counts changed: a frame now, or at the next interval (`force` for a status change). */
  progress(meta: JobMeta, store: JobStore, now: number, force = false): void {
    this.dirty = true;
    if (!force && now - this.lastFrameAt < FRAME_INTERVAL_MS) return;
    this.dirty = false;
    this.lastFrameAt = now;
    const sockets = this.ctx.getWebSockets();
    if (sockets.length === 0) return;
    const frame = jobFrame(meta, store, now);
    for (const ws of sockets) send(ws, frame);
  }

  /** When a held-back frame is due, or null. */
  nextDue(): number | null {
    return this.dirty && this.ctx.getWebSockets().length > 0 ? this.lastFrameAt + FRAME_INTERVAL_MS : null;
  }

  nextDeadline(): number | null {
    const deadlines = this.ctx.getWebSockets().map(deadlineOf);
    return deadlines.length > 0 ? Math.min(...deadlines) : null;
  }

  closeExpired(now: number): void {
    for (const ws of this.ctx.getWebSockets()) {
      if (deadlineOf(ws) <= now) {
        send(ws, { type: "error", error: { code: ErrorCode.TokenExpired, message: "token expired" } });
        ws.close(4401, "token expired");
      }
    }
  }

  closeAll(code: number, reason: string): void {
    for (const ws of this.ctx.getWebSockets()) ws.close(code, reason);
  }

  closed(ws: WebSocket, code: number): void {
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code, "closing");
    } catch {
      // Already closed.
    }
  }
}
