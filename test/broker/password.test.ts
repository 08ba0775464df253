import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PasswordCheck } from "../../broker/src/mqtt/password.js";
import { devicePassword } from "../../protocol/src/index.js";

// The broker's synchronous node:crypto check must accept exactly the passwords that the
// shared WebCrypto derivation (SDK, edge, `broker credentials`) produces (issue 14).
describe("PasswordCheck (node:crypto on the CONNECT path)", () => {
  it("derives the same password as protocol's devicePassword", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ minLength: 1, maxLength: 64 }),
        fc.string({ maxLength: 128 }),
        async (secret, id) => {
          const check = new PasswordCheck(secret);
          const shared = await devicePassword(secret, id);
          expect(check.expected(id).toString("latin1")).toBe(shared);
          expect(check.verify(id, Buffer.from(shared, "utf8"))).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("refuses another device's, another secret's, a truncated, a longer and a non-UTF-8 password", async () => {
    const check = new PasswordCheck("fleet-secret");
    const right = Buffer.from(await devicePassword("fleet-secret", "router-1"));
    expect(check.verify("router-1", right)).toBe(true);
    expect(check.verify("router-2", right)).toBe(false);
    expect(check.verify("router-1", Buffer.from(await devicePassword("other", "router-1")))).toBe(false);
    expect(check.verify("router-1", right.subarray(0, right.length - 1))).toBe(false);
    expect(check.verify("router-1", Buffer.concat([right, Buffer.from("x")]))).toBe(false);
    expect(check.verify("router-1", Buffer.alloc(0))).toBe(false);
    const flipped = Buffer.from(right);
    flipped[10] = 0xff;
    expect(check.verify("router-1", flipped)).toBe(false);
  });
});
