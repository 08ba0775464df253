import { sign } from "hono/jwt";
import { describe, expect, it } from "vitest";
import {
  httpOrigin,
  judgeLinkedEdge,
  type StorageLike,
  TokenVault,
  tokenRefusal,
} from "../../edge/public/console-settings.js";

/** A Storage with the browser's shape, kept in a Map (cleared by the test that made it). */
function memoryStorage(): StorageLike & { entries: Map<string, string> } {
  const entries = new Map<string, string>();
  return {
    entries,
    getItem: (key) => entries.get(key) ?? null,
    setItem: (key, value) => void entries.set(key, value),
    removeItem: (key) => void entries.delete(key),
  };
}

const PAGE = "https://edge.example";

describe("an #edge= link", () => {
  it("is used as is only when it names the page's own origin", () => {
    expect(judgeLinkedEdge("https://edge.example/", PAGE)).toEqual({ use: "as-is", origin: PAGE });
    expect(judgeLinkedEdge("https://edge.example/some/path?x=1", PAGE)).toEqual({
      use: "as-is",
      origin: PAGE,
    });
  });

  it("to another origin needs the user's confirmation, with the origin shown in full", () => {
    for (const edge of ["https://other.host", "http://edge.example", "https://edge.example:8443"]) {
      expect(judgeLinkedEdge(edge, PAGE)).toEqual({ use: "ask", origin: httpOrigin(edge) });
    }
  });

  it("that is not an http(s) URL is never used", () => {
    for (const edge of ["javascript:alert(1)", "data:text/html,x", "not a url", "//other.host"]) {
      expect(judgeLinkedEdge(edge, PAGE)).toEqual({ use: "never" });
    }
  });
});

describe("the token vault", () => {
  it("keeps the token in this tab only unless asked to remember it", () => {
    const session = memoryStorage();
    const local = memoryStorage();
    const vault = new TokenVault(
      () => session,
      () => local,
    );
    vault.save("t1", PAGE, false);
    expect([...session.entries.values()]).toContain("t1");
    expect([...local.entries.values()]).not.toContain("t1");
    expect(vault.remembered).toBe(false);

    vault.save("t2", PAGE, true);
    expect([...local.entries.values()]).toContain("t2");
    expect(vault.remembered).toBe(true);
    // A new tab (empty sessionStorage) finds the remembered one.
    const newTab = new TokenVault(memoryStorage, () => local);
    expect(newTab.load(PAGE)).toBe("t2");
  });

  it("never hands a token to another edge origin, and forgets it when asked for one", () => {
    const session = memoryStorage();
    const local = memoryStorage();
    const vault = new TokenVault(
      () => session,
      () => local,
    );
    vault.save("secret-token", PAGE, true);
    expect(vault.load("https://other.host")).toBe("");
    expect(vault.load(PAGE)).toBe("");
    expect([...session.entries.values(), ...local.entries.values()]).not.toContain("secret-token");
  });

  it("still works where storage throws (private mode)", () => {
    const throwing = (): StorageLike => {
      throw new Error("SecurityError");
    };
    const vault = new TokenVault(throwing, throwing);
    vault.save("t", PAGE, true);
    expect(vault.load(PAGE)).toBe("");
  });
});

describe("before connecting, the console reads the token's claims", () => {
  const now = Date.now();
  const jwt = (claims: Record<string, unknown>) =>
    sign({ sub: "u", kind: "web", exp: Math.floor(now / 1000) + 600, ...claims }, "any-secret", "HS256");

  it("stops at once, saying so, when the token does not list the device", async () => {
    const token = await jwt({ devices: ["router-1", "router-2"] });
    expect(tokenRefusal(token, "router-9", now)).toMatch(
      /does not cover router-9 \(it lists 2 other devices\)/,
    );
    expect(tokenRefusal(token, "router-2", now)).toBeNull();
  });

  it("stops when the token expired beyond the edge's 60 s leeway", async () => {
    const expired = await jwt({ devices: ["r"], exp: Math.floor(now / 1000) - 61 });
    expect(tokenRefusal(expired, "r", now)).toMatch(/expired/);
    const withinLeeway = await jwt({ devices: ["r"], exp: Math.floor(now / 1000) - 30 });
    expect(tokenRefusal(withinLeeway, "r", now)).toBeNull();
  });

  it("lets the edge judge a token it cannot read", () => {
    expect(tokenRefusal("opaque-token", "r", now)).toBeNull();
  });
});
