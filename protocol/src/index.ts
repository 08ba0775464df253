/**
 * The Tether wire protocol: topics, messages, guards, signatures, error codes.
 * Pure: no runtime imports, so the broker (Node), the edge (workerd) and the
 * device SDK (Node 18+) all import it.
 */
export * from "./config.js";
export * from "./crypto.js";
export * from "./desired.js";
export * from "./errors.js";
export * from "./ids.js";
export * from "./jobs.js";
export * from "./limits.js";
export * from "./messages.js";
export * from "./topics.js";
