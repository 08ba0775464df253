import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { writeHeapSnapshot } from "node:v8";
import type { Logger } from "pino";

export interface HeapSnapshotOptions {
  /** Where snapshots go; created if missing. */
  dir: string;
  /** Snapshots kept: after each write, older ones beyond this are deleted (a snapshot is about the heap's size). */
  keep: number;
  logger: Logger;
  /** Default SIGUSR2 (SIGUSR1 is Node's inspector). */
  signal?: NodeJS.Signals;
}

const PREFIX = "tether-";
const SUFFIX = ".heapsnapshot";
let sequence = 0;

/** `tether-<ISO time>-<pid>-<n>.heapsnapshot`: sorting names sorts by time. */
function snapshotName(now: Date): string {
  const stamp = now.toISOString().replace(/[:.]/g, "-");
  sequence = (sequence + 1) % 1_000_000;
  return `${PREFIX}${stamp}-${process.pid}-${String(sequence).padStart(6, "0")}${SUFFIX}`;
}

/**
 * A heap snapshot holds every secret in the process (DEVICE_SECRET, tokens, device
 * passwords in flight): the folder is created 0700 if missing, and an existing
 * folder that group or others may read is refused rather than chmod'ed (it may be
 * a shared folder such as /tmp). Throws with the reason.
 */
export function ensurePrivateDir(dir: string): void {
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const mode = statSync(dir).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new Error(
      `heap snapshot folder ${dir} is open to group or others (mode ${mode.toString(8)}); ` +
        "snapshots contain secrets: chmod 700 it, or name a folder that does not exist yet",
    );
  }
}

/** Deletes this broker's snapshots in `dir` beyond the `keep` newest; returns the deleted paths. */
export function pruneHeapSnapshots(dir: string, keep: number): string[] {
  const ours = readdirSync(dir)
    .filter((name) => name.startsWith(PREFIX) && name.endsWith(SUFFIX))
    .sort();
  const doomed = ours.slice(0, Math.max(0, ours.length - keep)).map((name) => join(dir, name));
  for (const path of doomed) rmSync(path, { force: true });
  return doomed;
}

/**
 * Writes a heap snapshot into `dir` (synchronously: the process pauses for as long
 * as V8 walks the heap), prunes to `keep`, logs the path and returns it.
 *
 * @example
 *   const path = writeHeapSnapshotInto({ dir: "/var/tmp/tether-heap", keep: 3, logger });
 *   // open it in Chrome DevTools → Memory → Load
 */
export function writeHeapSnapshotInto(options: Omit<HeapSnapshotOptions, "signal">): string {
  ensurePrivateDir(options.dir);
  const started = performance.now();
  const path = writeHeapSnapshot(join(options.dir, snapshotName(new Date())));
  // V8 creates the file with the umask's mode; only the broker's user may read it.
  chmodSync(path, 0o600);
  const pruned = pruneHeapSnapshots(options.dir, options.keep);
  options.logger.info(
    { path, ms: Math.round(performance.now() - started), pruned: pruned.length },
    "heap snapshot written",
  );
  return path;
}

/**
 * On `signal` (default SIGUSR2), writes a heap snapshot into `dir`, keeping at most
 * `keep` of them: `kill -USR2 <pid>` on a live broker, no restart, no core dump.
 * Snapshots are written 0600 into a 0700 folder (`ensurePrivateDir`, checked here
 * so a broker with an unsafe folder does not start). Returns uninstall().
 *
 * @example
 *   const uninstall = installHeapSnapshotOnSignal({ dir: settings.heapSnapshotDir, keep: 3, logger });
 *   // later: uninstall();
 */
export function installHeapSnapshotOnSignal(options: HeapSnapshotOptions): () => void {
  if (!Number.isInteger(options.keep) || options.keep < 1) {
    throw new RangeError(`keep must be a whole number >= 1 (got ${options.keep})`);
  }
  ensurePrivateDir(options.dir);
  const signal = options.signal ?? "SIGUSR2";
  const { signal: _signal, ...writeOptions } = options;
  const onSignal = () => {
    try {
      writeHeapSnapshotInto(writeOptions);
    } catch (error) {
      options.logger.error({ err: error, dir: options.dir }, "heap snapshot failed");
    }
  };
  process.on(signal, onSignal);
  options.logger.info({ signal, dir: options.dir, keep: options.keep }, "heap snapshots on signal");
  return function uninstallHeapSnapshot() {
    process.off(signal, onSignal);
  };
}
