import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/**
 * A full garbage collection without restarting the worker with --expose-gc:
 * setting the flag at run time makes V8 install `gc` in contexts created after
 * it, so a fresh vm context hands us the function.
 */
function exposeGc(): () => void {
  if (typeof globalThis.gc === "function") return globalThis.gc;
  setFlagsFromString("--expose-gc");
  const gc: unknown = runInNewContext("gc");
  if (typeof gc !== "function") throw new Error("could not expose gc");
  return gc as () => void;
}

const gc = exposeGc();

const turn = () => new Promise((resolve) => setImmediate(resolve));

/**
 * Collects until the heap stops shrinking (finalizers and weak callbacks get event-loop
 * turns in between) and returns the smallest heapUsed seen, in bytes.
 */
export async function settledHeapUsed(): Promise<number> {
  let smallest = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 6; i++) {
    gc();
    await turn();
    await new Promise((resolve) => setTimeout(resolve, 10));
    const used = process.memoryUsage().heapUsed;
    if (used >= smallest - 16 * 1024 && i >= 2) return Math.min(used, smallest);
    smallest = Math.min(smallest, used);
  }
  return smallest;
}
