import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { BROKER_NODE_FLAGS } from "../../broker/src/node-flags.js";

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), "utf8");

// The V8 flags of broker/src/node-flags.ts (issue 14) are set wherever an operator starts the
// broker by text, not by import: `npm run broker` and the README's systemd unit.
describe("the broker's Node flags are set where operators start it", () => {
  it("npm run broker passes each flag to node", () => {
    const script: unknown = JSON.parse(read("package.json")).scripts.broker;
    expect(typeof script).toBe("string");
    for (const flag of BROKER_NODE_FLAGS) expect(script).toMatch(new RegExp(`node [^&;]*${flag}`));
  });

  it("the README's systemd unit passes each flag to node", () => {
    const execStart = /^ExecStart=(.*)$/m.exec(read("README.md"))?.[1] ?? "";
    expect(execStart).toContain("/usr/bin/node");
    for (const flag of BROKER_NODE_FLAGS) expect(execStart).toContain(flag);
  });
});
