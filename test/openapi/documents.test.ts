import { Validator } from "@seriousme/openapi-schema-validator";
import pino from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createHttpApp, type HttpAppDeps } from "../../broker/src/http/app.js";
import { createBrokerMetrics } from "../../broker/src/metrics.js";
import { API_TOKEN, cleanupAll, startTestBroker } from "../broker/helpers.js";
import { type RoutedApp, undocumentedRoutes } from "./route-coverage.js";

afterEach(cleanupAll);

// The edge's app is imported here only to read its route table and document; its Durable
// Object classes (workerd's base class) are never instantiated in Node.
vi.mock("cloudflare:workers", () => ({ DurableObject: class {} }));

/** Validates against the official OpenAPI 3.1 JSON schema; the errors when not valid. */
async function openapiErrors(document: unknown): Promise<unknown> {
  const validator = new Validator();
  const result = await validator.validate(document as Parameters<Validator["validate"]>[0]);
  expect(validator.version).toBe("3.1");
  return result.valid ? null : result.errors;
}

/** Reads a document's operation: `paths[path][method]`. */
function operation(document: unknown, path: string, method: string): Record<string, unknown> {
  const paths = Reflect.get(document as object, "paths") as Record<string, Record<string, unknown>>;
  return paths[path]?.[method] as Record<string, unknown>;
}

/** The broker's app with dependencies that are never called: only its route table is read. */
function brokerAppForRoutes() {
  const unused = {} as never;
  const deps: HttpAppDeps = {
    brokerApiToken: "t".repeat(32),
    revocations: unused,
    desired: unused,
    counts: unused,
    router: unused,
    store: unused,
    metrics: createBrokerMetrics(),
    maxBodyBytes: 1024,
    logger: pino({ level: "silent" }),
  };
  return createHttpApp(deps);
}

/**
 * The edge's app, imported by a path TypeScript does not follow: the Node typecheck
 * leaves edge/ to its own tsconfig (workerd's types).
 */
async function importEdgeApp(): Promise<
  RoutedApp & { request: (path: string, init: object, env: object) => Promise<Response> }
> {
  const path = "../../edge/src/app.js";
  const module: {
    app: RoutedApp & { request: (path: string, init: object, env: object) => Promise<Response> };
  } = await import(/* @vite-ignore */ path);
  return module.app;
}

const EDGE_ENV = {
  TETHER_ENV: "development",
  RAILS_API_TOKEN: "rails-token",
  CLIENT_JWT_SECRET: "jwt-secret",
  BROKER_API_TOKEN: "broker-token",
  EDGE_EVENTS_SECRET: "events-secret",
  BROKER_URL: "http://broker.test",
};

describe("the HTTP APIs describe themselves (OpenAPI 3.1)", () => {
  it("the broker serves /openapi.json without a token, a valid OpenAPI 3.1 document of the command body", async () => {
    const broker = await startTestBroker();
    const response = await fetch(`${broker.httpUrl}/openapi.json`);
    expect(response.status).toBe(200);
    const document: unknown = await response.json();
    expect(await openapiErrors(document)).toBeNull();
    // The validator does refuse what is not OpenAPI 3.1 (so the line above can fail).
    expect(
      await openapiErrors({ openapi: "3.1.0", info: { title: "no version" }, paths: {} }),
    ).not.toBeNull();

    const send = operation(document, "/v1/devices/{id}/commands", "post");
    expect(Object.keys(send.responses as object)).toEqual(
      expect.arrayContaining(["200", "202", "400", "401", "409", "429", "503", "504"]),
    );
    const responses = send.responses as Record<string, { headers?: Record<string, unknown> }>;
    expect(responses["429"]?.headers).toHaveProperty("Retry-After");
    expect(responses["503"]?.headers).toHaveProperty("Retry-After");
    const schemas = Reflect.get(Reflect.get(document as object, "components"), "schemas");
    expect(schemas.CommandRequest.properties.timeoutMs).toMatchObject({
      minimum: 100,
      maximum: 60_000,
      default: 10_000,
    });
    expect(schemas.CommandRequest.properties.ttlMs).toMatchObject({
      minimum: 1_000,
      maximum: 604_800_000,
      default: 3_600_000,
    });
    expect(schemas.CommandRequest.properties.queue).toMatchObject({ type: "boolean", default: false });
    expect(schemas.CommandRequest.required).toEqual(["name"]);
  });

  it("the broker's command route answers only statuses its document declares", async () => {
    const broker = await startTestBroker({ maxPayloadBytes: 256 });
    const document: unknown = await (await fetch(`${broker.httpUrl}/openapi.json`)).json();
    const declared = Object.keys(
      operation(document, "/v1/devices/{id}/commands", "post").responses as object,
    );
    const url = `${broker.httpUrl}/v1/devices/router-x/commands`;
    const auth = { authorization: `Bearer ${API_TOKEN}` };
    const json = { ...auth, "content-type": "application/json" };
    const answers = await Promise.all([
      fetch(url, { method: "POST", headers: json, body: '{"name":"ping"}' }), // offline: 409
      fetch(url, { method: "POST", headers: json, body: '{"name":"bad name!"}' }), // 400
      fetch(url, { method: "POST", headers: json, body: "{not json" }), // 400
      fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" }), // 401
      fetch(url, { method: "POST", headers: { ...auth, "content-type": "text/plain" }, body: "x" }), // 415
      fetch(url, {
        method: "POST",
        headers: json,
        body: JSON.stringify({ name: "p", params: "x".repeat(512) }),
      }), // 413
    ]);
    const statuses = answers.map((answer) => String(answer.status));
    expect(statuses).toEqual(["409", "400", "400", "401", "415", "413"]);
    for (const status of statuses) expect(declared).toContain(status);
    for (const answer of answers) {
      expect(await answer.json()).toMatchObject({
        error: { code: expect.any(String), message: expect.any(String) },
      });
    }
  });

  it("every route registered on the broker's app is in its document", async () => {
    const app = brokerAppForRoutes();
    const document: unknown = await (await app.request("/openapi.json")).json();
    expect(undocumentedRoutes(app, document)).toEqual([]);
  });

  it("the edge serves /openapi.json, a valid OpenAPI 3.1 document, and every registered route is in it", async () => {
    const edgeApp = await importEdgeApp();
    const response = await edgeApp.request("/openapi.json", {}, EDGE_ENV);
    expect(response.status).toBe(200);
    const document: unknown = await response.json();
    expect(await openapiErrors(document)).toBeNull();
    expect(undocumentedRoutes(edgeApp, document)).toEqual([]);
    const send = operation(document, "/v1/devices/{id}/commands", "post");
    const responses = send.responses as Record<string, { headers?: Record<string, unknown> }>;
    expect(responses["503"]?.headers).toHaveProperty("Retry-After");
  });

  it("the check finds a route someone adds without describing it", async () => {
    const app = brokerAppForRoutes();
    app.get("/v1/devices/:id/forgotten", (c) => c.json({}));
    const document: unknown = await (await app.request("/openapi.json")).json();
    expect(undocumentedRoutes(app, document)).toEqual(["GET /v1/devices/{id}/forgotten"]);
  });
});
