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

  it("serves the console with headers that forbid framing it and sending its URL as a referrer", async () => {
    for (const path of ["/", "/index.html", "/console.js"]) {
      const res = await SELF.fetch(`${EDGE}${path}`);
      expect(res.status, path).toBe(200);
      expect(res.headers.get("content-security-policy"), path).toContain("frame-ancestors 'none'");
      expect(res.headers.get("x-frame-options"), path).toBe("DENY");
      expect(res.headers.get("referrer-policy"), path).toBe("no-referrer");
      await res.arrayBuffer();
    }
    const rules = await SELF.fetch(`${EDGE}/_headers`);
    expect(rules.status).toBe(404);
    await rules.arrayBuffer();
  });

  it("never answers an API path with an asset, and a missing file is a 404 in the error shape", async () => {
    for (const path of ["/v1/index.html", "/internal/index.html", "/no-such-file.js"]) {
      const res = await SELF.fetch(`${EDGE}${path}`);
      expect(res.status, path).toBe(404);
      expect(await res.json()).toEqual({ error: { code: "not_found", message: expect.any(String) } });
    }
  });
});
