/**
 * What a command's record costs its DeviceChannel, in SQLite statements and rows read
 * (what Cloudflare bills a Durable Object's storage by), and the bounds that keep it
 * small: a log that is full, an object that restarts, rows past the retention.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { COMMAND_LOG_LIMITS, CommandLog } from "../../edge/src/channel/command-log.js";
import { freshDeviceId } from "./helpers.js";

type Cost = { statements: number; rowsRead: number; rowsWritten: number };

/** Counts the statements `sql.exec` runs during `work`, and the rows they read and wrote. */
function measure(sql: SqlStorage, work: () => void): Cost {
  const exec = sql.exec;
  const cursors: SqlStorageCursor<Record<string, SqlStorageValue>>[] = [];
  sql.exec = ((query: string, ...bindings: unknown[]) => {
    const cursor = exec.call(sql, query, ...bindings);
    cursors.push(cursor);
    return cursor;
  }) as typeof sql.exec;
  try {
    work();
  } finally {
    sql.exec = exec;
  }
  return {
    statements: cursors.length,
    rowsRead: cursors.reduce((sum, c) => sum + c.rowsRead, 0),
    rowsWritten: cursors.reduce((sum, c) => sum + c.rowsWritten, 0),
  };
}

const idsIn = (sql: SqlStorage) =>
  sql
    .exec<{ id: string }>("SELECT id FROM command_log ORDER BY updated_at")
    .toArray()
    .map((row) => row.id);

describe("a command's record in its DeviceChannel", () => {
  it("reads a few rows per command however full the log is, and keeps the newest maxRows", async () => {
    const id = freshDeviceId();
    const stub = env.DEVICE_CHANNEL.getByName(id);
    const start = Date.now();
    await runInDurableObject(stub, (instance) => {
      for (let i = 0; i < COMMAND_LOG_LIMITS.maxRows; i++) {
        instance.now = () => start + i;
        instance.commandSent(id, `fill-${String(i).padStart(4, "0")}`);
      }
    });
    const commands = 100;
    const cost = await runInDurableObject(stub, (instance, state) =>
      measure(state.storage.sql, () => {
        for (let i = 0; i < commands; i++) {
          const commandId = `cmd-${i}`;
          instance.now = () => start + 10_000 + i;
          instance.commandSent(id, commandId);
          instance.commandAnswered(id, commandId, { id: commandId, ok: true, result: { pong: true } });
        }
      }),
    );
    // Pruning with ORDER BY … OFFSET maxRows on every write read 2,015 rows and ran 10
    // statements per command here; now: 3 statements, 7 rows (docs/EDGE.md, "Command status").
    expect(cost.statements / commands).toBeLessThanOrEqual(3);
    expect(cost.rowsRead / commands).toBeLessThanOrEqual(10);
    const ids = await runInDurableObject(stub, (_instance, state) => idsIn(state.storage.sql));
    expect(ids).toHaveLength(COMMAND_LOG_LIMITS.maxRows);
    // The least recently updated went: the first 100 fillers.
    expect(ids[0]).toBe("fill-0100");
    expect(ids.slice(-commands)).toEqual(Array.from({ length: commands }, (_, i) => `cmd-${i}`));
  });

  it("keeps the bound across restarts of its object (it counts its rows again)", async () => {
    const stub = env.DEVICE_CHANNEL.getByName(freshDeviceId());
    await runInDurableObject(stub, (_instance, state) => {
      const sql = state.storage.sql;
      const limits = { ...COMMAND_LOG_LIMITS, maxRows: 5 };
      // Each CommandLog is one lifetime of the object (evicted, then started again).
      for (let life = 0; life < 4; life++) {
        const log = new CommandLog(sql, limits);
        for (let i = 0; i < 3; i++) log.pending(`life${life}-${i}`, 1_000 * life + i);
        expect(idsIn(sql).length).toBeLessThanOrEqual(5);
      }
      expect(idsIn(sql)).toEqual(["life2-1", "life2-2", "life3-0", "life3-1", "life3-2"]);
    });
  });

  it("serves no row past the retention, and sweeps such rows at its first write and then once per sweepEveryMs", async () => {
    const stub = env.DEVICE_CHANNEL.getByName(freshDeviceId());
    await runInDurableObject(stub, (_instance, state) => {
      const sql = state.storage.sql;
      const limits = { retentionMs: 1_000, maxRows: 100, sweepEveryMs: 10_000 };
      const first = new CommandLog(sql, limits);
      first.pending("old", 0);
      first.pending("newer", 500);
      // Past the retention, not swept yet (the next sweep is due at 10,000): never served.
      first.pending("later", 2_000);
      expect(idsIn(sql)).toEqual(["old", "newer", "later"]);
      expect(first.get("d", "old", 2_000)).toBeNull();
      expect(first.get("d", "later", 2_000)).toMatchObject({ status: "pending" });
      // The sweep is due: every row past the retention goes, and the count follows.
      first.pending("sweeper", 10_000);
      expect(idsIn(sql)).toEqual(["sweeper"]);
      // A new lifetime sweeps at its first write.
      const second = new CommandLog(sql, limits);
      second.pending("next", 20_000);
      expect(idsIn(sql)).toEqual(["next"]);
    });
  });
});
