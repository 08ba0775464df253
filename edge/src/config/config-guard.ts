import type { MiddlewareHandler } from "hono";
import { ErrorCode, TetherError } from "../../../protocol/src/index.js";
import type { EdgeEnv } from "../env.js";
import { checkEdgeConfig, type EdgeConfig } from "./edge-config.js";

/** The 500 of a misconfigured edge: logged once by edgeConfig(), not again per request. */
export class EdgeMisconfigured extends TetherError {}

/** The last problems logged by this isolate: logged again only when they change (one string). */
let lastReported = "";

/**
 * The edge's configuration, or a 500 whose body says nothing about which secret
 * is wrong: the names go to the log, where the operator looks, not to whoever asked.
 */
export function edgeConfig(env: EdgeEnv): EdgeConfig {
  const check = checkEdgeConfig(env);
  if (check.ok) return check.config;
  const report = check.problems.join("; ");
  if (report !== lastReported) {
    lastReported = report;
    console.error(`edge: refusing to serve, misconfigured: ${report}`);
  }
  throw new EdgeMisconfigured(ErrorCode.Internal, "the edge is misconfigured; its log says how", {
    status: 500,
  });
}

/** First middleware of every route: the edge refuses to serve with a missing, weak or dev- secret. */
export function requireEdgeConfig(): MiddlewareHandler<{ Bindings: EdgeEnv }> {
  return async function checkConfig(c, next) {
    edgeConfig(c.env);
    await next();
  };
}
