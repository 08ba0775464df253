/**
 * One known line of local-only noise from `wrangler dev`, replaced by a sentence.
 *
 * When a WebSocket client vanishes without a close frame (a browser tab or Chromium
 * killed, a laptop asleep, `ws.terminate()`), workerd's local HTTP server — kj's
 * `HttpServer::Connection::finishSendingError`, found by symbolising the trace's
 * addresses — tries to write an HTTP error onto the already upgraded connection, gets
 * EPIPE (or ECONNRESET when the peer reset the connection: seen under load in a clean-clone
 * run), and logs it as an uncaught error with a stack of raw addresses. Nothing is
 * lost: the Durable Object gets `webSocketClose` (1006) and drops the socket as usual.
 * On Cloudflare, clients meet Cloudflare's front line, not this server, so the line is
 * local-only (docs/EDGE.md, "Run locally").
 */

const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");
const BROKEN_PIPE =
  /kj\/async-io-unix\.c\+\+:\d+: disconnected: ::write\(.*\): (?:Broken pipe|Connection reset by peer)/;
const STACK = /^\s*stack: \S*workerd@/;

export const CLIENT_GONE_LINE =
  "a WebSocket client went away without closing; workerd's local server logs that as a " +
  "Broken pipe or Connection reset error (harmless, local only: docs/EDGE.md, Run locally)";

/**
 * A line filter for the edge's output: the Broken-pipe (or reset) error becomes CLIENT_GONE_LINE,
 * its stack line and the blank lines around it go; every other line passes unchanged.
 * Returns null for a line to drop.
 */
export function workerdNoiseFilter(): (line: string) => string | null {
  let inNoise = false;
  return (line) => {
    const plain = line.replace(ANSI, "");
    if (BROKEN_PIPE.test(plain)) {
      inNoise = true;
      return CLIENT_GONE_LINE;
    }
    if (inNoise && (plain.trim() === "" || STACK.test(plain))) return null;
    inNoise = false;
    return line;
  };
}
