import type { Context } from "hono";
import { ErrorCode } from "../../protocol/src/index.js";
import type { EdgeEnv } from "./env.js";
import { errorResponse } from "./http-errors.js";

/** Paths that belong to the API (wrangler.toml `run_worker_first`); never answered by an asset. */
const API_PREFIXES = ["/v1/", "/internal/", "/healthz", "/openapi.json"];

/**
 * Last route: a GET for a non-API path is offered to the static assets (the web
 * console), so the console is served however the Worker is reached (in production
 * the asset router already tried; under the test pool and some local setups the
 * Worker is called first). Anything else is a 404 in the one error shape.
 */
export async function assetOrNotFound(c: Context<{ Bindings: EdgeEnv }>): Promise<Response> {
  const { method, path } = c.req;
  const assets = c.env.ASSETS;
  const isApi = API_PREFIXES.some((prefix) => path === prefix.replace(/\/$/, "") || path.startsWith(prefix));
  if (assets && (method === "GET" || method === "HEAD") && !isApi) {
    const response = await assets.fetch(c.req.raw);
    if (response.status !== 404) return response;
  }
  return errorResponse(404, ErrorCode.NotFound, `no route for ${method} ${path}`);
}
