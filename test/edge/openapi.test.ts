import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { app } from "../../edge/src/app.js";
import { undocumentedRoutes } from "../openapi/route-coverage.js";
import { EDGE } from "./helpers.js";

// The document is also validated against the OpenAPI 3.1 schema, in Node
// (test/openapi/documents.test.ts): the validator reads its schemas from disk.
describe("the edge describes itself (OpenAPI 3.1)", () => {
  it("serves /openapi.json without a token, in workerd, naming every registered route", async () => {
    const response = await SELF.fetch(`${EDGE}/openapi.json`);
    expect(response.status).toBe(200);
    const document: unknown = await response.json();
    expect(document).toMatchObject({ openapi: "3.1.0", info: { title: "Tether edge API" } });
    expect(undocumentedRoutes(app, document)).toEqual([]);
  });
});
