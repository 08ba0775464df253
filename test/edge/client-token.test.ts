import { sign } from "hono/jwt";
import { describe, expect, it } from "vitest";
import {
  type ClientTokenPolicy,
  MAX_TOKEN_BYTES,
  presentedToken,
  verifyClientToken,
} from "../../edge/src/auth/client-token.js";

const NOW = 1_800_000_000;
const policy: ClientTokenPolicy = {
  secret: "a-client-jwt-secret-of-at-least-32-bytes",
  maxTtlSeconds: 86_400,
  issuer: undefined,
  audience: undefined,
};

function token(claims: Record<string, unknown>, secret = policy.secret): Promise<string> {
  return sign({ sub: "u", kind: "web", devices: ["d"], exp: NOW + 600, ...claims }, secret, "HS256");
}

async function outcome(claims: Record<string, unknown>, using: ClientTokenPolicy = policy): Promise<string> {
  try {
    await verifyClientToken(await token(claims), using, NOW);
    return "accepted";
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

describe("client JWT checks", () => {
  it("allows 60 s of clock skew on exp, nbf and iat, and no more", async () => {
    expect(await outcome({ exp: NOW - 59 })).toBe("accepted");
    expect(await outcome({ exp: NOW - 60 })).toBe("token expired");
    expect(await outcome({ nbf: NOW + 60 })).toBe("accepted");
    expect(await outcome({ nbf: NOW + 61 })).toMatch(/nbf/);
    expect(await outcome({ iat: NOW + 60 })).toBe("accepted");
    expect(await outcome({ iat: NOW + 61 })).toMatch(/iat/);
  });

  it("refuses a lifetime (exp − iat, or exp − now without iat) above CLIENT_JWT_MAX_TTL_SECONDS", async () => {
    expect(await outcome({ iat: NOW - 10, exp: NOW - 10 + 86_400 })).toBe("accepted");
    expect(await outcome({ iat: NOW - 10, exp: NOW - 10 + 86_401 })).toMatch(/longer than 86400 s/);
    expect(await outcome({ exp: NOW + 86_400 + 60 })).toBe("accepted");
    expect(await outcome({ exp: NOW + 86_400 + 61 })).toMatch(/longer than/);
    expect(await outcome({ iat: NOW, exp: NOW + 3601 }, { ...policy, maxTtlSeconds: 3600 })).toMatch(
      /longer than 3600 s/,
    );
  });

  it("refuses a token larger than 8 KiB before decoding it", async () => {
    const padding = (bytes: number) => "x".repeat(bytes);
    const justUnder = await token({ pad: padding(5_900) });
    expect(new TextEncoder().encode(justUnder).byteLength).toBeLessThanOrEqual(MAX_TOKEN_BYTES);
    await expect(verifyClientToken(justUnder, policy, NOW)).resolves.toMatchObject({ sub: "u" });
    const over = await token({ pad: padding(6_200) });
    expect(new TextEncoder().encode(over).byteLength).toBeGreaterThan(MAX_TOKEN_BYTES);
    await expect(verifyClientToken(over, policy, NOW)).rejects.toThrow(/larger than 8192 bytes/);
  });

  it("pins iss and aud when the policy names them (aud may be a list)", async () => {
    const pinned = { ...policy, issuer: "rails", audience: "edge" };
    expect(await outcome({ iss: "rails", aud: "edge" }, pinned)).toBe("accepted");
    expect(await outcome({ iss: "rails", aud: ["app", "edge"] }, pinned)).toBe("accepted");
    expect(await outcome({ iss: "other", aud: "edge" }, pinned)).toMatch(/issuer/);
    expect(await outcome({ iss: "rails" }, pinned)).toMatch(/audience/);
    expect(await outcome({})).toBe("accepted"); // unpinned: neither is required
  });

  it("reads `cmd` as true or a list of device ids, and refuses anything else", async () => {
    for (const cmd of [true, false, ["d"], []]) expect(await outcome({ cmd })).toBe("accepted");
    for (const cmd of ["yes", 1, [1], { d: true }]) expect(await outcome({ cmd })).toMatch(/claims/);
  });
});

describe("where a client's token is found", () => {
  const url = (query = "") => new URL(`https://edge/v1/devices/d/ws${query}`);

  it("prefers the subprotocol value over ?token= when a client sends both", () => {
    expect(presentedToken(url("?token=from-query"), "tether, from.sub.protocol")).toEqual({
      token: "from.sub.protocol",
      offeredSubprotocol: true,
    });
    expect(presentedToken(url("?token=from-query"), "tether")).toEqual({
      token: "from-query",
      offeredSubprotocol: true,
    });
  });
});
