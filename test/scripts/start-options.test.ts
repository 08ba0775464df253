import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { HELP, parseStartOptions } from "../../scripts/lib/start-options.js";
import { ROOT } from "../../scripts/lib/system.js";

const problems = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
  const parsed = parseStartOptions(argv, env);
  return parsed.kind === "invalid" ? parsed.problems : [];
};

describe("npm start's options", () => {
  it("refuses, before starting anything, a prefix that makes no device id", () => {
    expect(problems(["--simulate", "2", "--id-prefix", "bad prefix!"])).toEqual([
      '--id-prefix "bad prefix!": device ids (^[A-Za-z0-9_-]{1,64}$) hold only letters, digits, _ and -, ' +
        'at most 64 of them; "bad prefix!1" is not one',
    ]);
    expect(problems(["--simulate", "100", "--id-prefix", "x".repeat(63)])).toHaveLength(1);
    expect(problems(["--simulate", "10", "--id-prefix", "x".repeat(63)])).toEqual([]);
  });

  it("says what is wrong with a port or host and which flag or variable gave it", () => {
    expect(problems(["--mqtt-port", "-5"])).toEqual([
      "--mqtt-port -5: a port is a whole number from 1 to 65535",
    ]);
    expect(problems([], { EDGE_PORT: "80a" })).toEqual([
      "EDGE_PORT 80a: a port is a whole number from 1 to 65535",
    ]);
    expect(problems(["--host", "999.1.1.1"])).toEqual([
      "--host 999.1.1.1 is not an IP address (each of the four numbers is 0-255)",
    ]);
    expect(problems(["--mqtt-port", "1883", "--http-port", "1883"])).toEqual([
      "MQTT, HTTP and edge ports must differ (--http-port 1883 is used twice)",
    ]);
    expect(problems(["--mqtt-port"])).toEqual(["--mqtt-port needs a value"]);
    expect(problems(["--bogus"])).toEqual(["unknown option --bogus"]);
    expect(problems(["--devices", "a,b c"])).toHaveLength(1);
  });

  it("takes a flag over its variable, and leaves unset ports as defaults it may replace", () => {
    const parsed = parseStartOptions(["--mqtt-port", "18830", "--host", "::1"], {
      MQTT_PORT: "1",
      HOST: "x",
    });
    if (parsed.kind !== "start") throw new Error(`expected options, got ${parsed.kind}`);
    expect(parsed.options.host).toBe("::1");
    expect(parsed.options.ports.map(({ port, name, explicit }) => ({ port, name, explicit }))).toEqual([
      { port: 18830, name: "--mqtt-port", explicit: true },
      { port: 8080, name: "HTTP_PORT", explicit: false },
      { port: 8787, name: "EDGE_PORT", explicit: false },
    ]);
  });

  it("runs the edge with wrangler's inspector off unless --inspector asks for wrangler dev", () => {
    const inspector = (argv: string[]) => {
      const parsed = parseStartOptions(argv, {});
      if (parsed.kind !== "start") throw new Error(`expected options, got ${parsed.kind}`);
      return parsed.options.inspector;
    };
    expect(inspector([])).toBe(false);
    expect(inspector(["--simulate", "1", "--inspector"])).toBe(true);
    expect(problems(["--inspector=yes"])).toHaveLength(1);
  });

  it("--help wins over the rest and names only files the repository has", () => {
    expect(parseStartOptions(["--bogus", "-h"], {})).toEqual({ kind: "help" });
    const files = HELP.match(/[\w./-]+\.md\b/g) ?? [];
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) expect(existsSync(join(ROOT, file)), file).toBe(true);
  });
});
