import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { EDGE } from "./helpers.js";

describe("the web console's static assets", () => {
  it("serves the console page at /", async () => {
    const res = await SELF.fetch(`${EDGE}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    await res.arrayBuffer();
  });

  it("never answers an API path with an asset, and a missing file is a 404 in the error shape", async () => {
    for (const path of ["/v1/index.html", "/internal/index.html", "/no-such-file.js"]) {
      const res = await SELF.fetch(`${EDGE}${path}`);
      expect(res.status, path).toBe(404);
      expect(await res.json()).toEqual({ error: { code: "not_found", message: expect.any(String) } });
    }
  });
});
