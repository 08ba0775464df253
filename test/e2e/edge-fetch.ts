/**
 * `fetch` to the local edge, less one artefact of wrangler's dev server that production
 * does not have. Locally the edge runs behind wrangler's ProxyWorker (scripts/edge-dev.ts,
 * wrangler 4.86): when its forwarding fetch to the Worker fails before any answer on the
 * loopback hop, it answers a POST `503` with the plain-text body below and `Retry-After: 0`,
 * and retries only GET and HEAD itself. The Worker did not restart (these runs never reload
 * it); the known cause is a keep-alive connection that the Worker's side closed as the
 * request was written to it, so the Worker never saw the request (cloudflare/workers-sdk#14641). Seen once in a clean clone's `npm test` (system.test.ts, a forged
 * event signature answered 503 instead of 401) and once on a fleet job's first POST.
 *
 * The answer is recognised by its exact body, which no route of ours can produce (every
 * error of ours is the JSON shape of docs/PROTOCOL.md), and the request is sent again as
 * wrangler's text asks, at most twice, each time said on stderr. Any other answer,
 * 503 `overloaded` included, is returned as it came.
 */
const DEV_PROXY_DROP = "Your worker restarted mid-request.";
const MAX_RESENDS = 2;

/** True for wrangler's dev-proxy answer above (reads a clone of the body; the response stays unread). */
export async function isDevProxyDrop(response: Response): Promise<boolean> {
  if (response.status !== 503) return false;
  const text = await response
    .clone()
    .text()
    .catch(() => "");
  return text.startsWith(DEV_PROXY_DROP);
}

/** `fetch`, sending the request again when wrangler's dev proxy dropped it. `init.body` must be re-sendable (a string). */
export async function edgeFetch(url: string, init: RequestInit = {}): Promise<Response> {
  if (init.body !== undefined && init.body !== null && typeof init.body !== "string") {
    throw new TypeError("edgeFetch: the body must be a string, so that it can be sent again");
  }
  for (let resend = 0; ; resend++) {
    const response = await fetch(url, init);
    if (resend === MAX_RESENDS || !(await isDevProxyDrop(response))) return response;
    await response.body?.cancel();
    console.warn(
      `[e2e] wrangler's dev proxy dropped ${init.method ?? "GET"} ${new URL(url).pathname} before the Worker ` +
        `saw it (503 "${DEV_PROXY_DROP}", cloudflare/workers-sdk#14641); sending it again`,
    );
  }
}
