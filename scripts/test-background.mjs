/**
 * Keeps `npm test`'s background lane in the background (scripts/test.sh; Linux only).
 *
 *   node scripts/test-background.mjs <pid>
 *
 * The lane runs under `nice -n 19`, and its children inherit that. But a child started in a
 * session of its own (`detached: true`: every broker, wrangler/workerd and launcher of
 * scripts/lib/processes.ts, Playwright's Chromium) gets an autogroup of its own when
 * kernel.sched_autogroup_enabled=1 (the default on desktop kernels), and the scheduler shares
 * the CPU between autogroups by the autogroup's nice, not the task's: such a child competed
 * with the timing lane as an equal. This sets the autogroup nice of every session leader
 * under <pid> to 19, every POLL_MS, until <pid> is gone. Without autogroups (or on another
 * OS) there is nothing to do and it exits at once.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";

const POLL_MS = 250;
const NICE = 19;
const root = Number(process.argv[2]);

if (!Number.isInteger(root) || root <= 1) {
  console.error("usage: node scripts/test-background.mjs <pid>");
  process.exit(2);
}
if (process.platform !== "linux" || read("/proc/sys/kernel/sched_autogroup_enabled")?.trim() !== "1") {
  process.exit(0);
}

/** Session leaders already set (bound: the lane's sessions, a few dozen in a run). */
const done = new Set();
const timer = setInterval(() => {
  const table = processes();
  if (!table.has(root)) {
    clearInterval(timer);
    return;
  }
  const children = new Map();
  for (const [pid, { ppid }] of table) {
    const list = children.get(ppid) ?? [];
    list.push(pid);
    children.set(ppid, list);
  }
  for (const pid of descendants(root, children)) {
    const entry = table.get(pid);
    if (!entry || entry.sid !== pid || done.has(pid)) continue;
    try {
      writeFileSync(`/proc/${pid}/autogroup`, String(NICE));
      done.add(pid);
    } catch {
      // Gone meanwhile, or not ours to change: nothing to keep in the background.
    }
  }
}, POLL_MS);

/** pid → parent and session, from /proc/<pid>/stat. */
function processes() {
  const table = new Map();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const stat = read(`/proc/${name}/stat`);
    if (!stat) continue;
    // "pid (comm) state ppid pgrp session …": comm may hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    table.set(Number(name), { ppid: Number(fields[1]), sid: Number(fields[3]) });
  }
  return table;
}

function descendants(pid, children) {
  const found = [];
  const stack = [...(children.get(pid) ?? [])];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    found.push(next);
    stack.push(...(children.get(next) ?? []));
  }
  return found;
}

function read(path) {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}
