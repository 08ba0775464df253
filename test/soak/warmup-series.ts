/** Recorded-like memory series for the soak gate's tests (test/soak/analysis.test.ts). */
import { readFileSync } from "node:fs";
import type { Sample } from "../../soak/sampler.js";

export const MB = 2 ** 20;

/** A repeatable PRNG (mulberry32) and Gaussian noise from it, so a noisy case is the same every run. */
export function gaussian(seed: number): () => number {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

export interface SeriesShape {
  /** Run length, seconds (a sample every 10 s, as --gc-every's default). */
  seconds: number;
  /** Data (RSS after GC less code) warm-up: MB it gains, and its time constant in s. */
  dataWarmMb: number;
  dataTau: number;
  /** The lasting growth after warm-up, bytes/s (0 = flat; 512 = 0.5 KB/s). */
  leakBps: number;
  /** Standard deviation of the post-GC reading's noise, bytes. */
  noise: number;
  seed: number;
  /** V8 code: MB it gains and its time constant. */
  codeWarmMb: number;
  codeTau: number;
  /**
   * Heap after full GC less code: MB it gains, its time constant, and a lasting growth in
   * bytes/s; null (the default) = no heap readings, as a broker before `code` reports.
   */
  heap: { warmMb: number; tau: number; leakBps: number; noise: number } | null;
}

export const SHAPE: SeriesShape = {
  seconds: 1_800,
  dataWarmMb: 3,
  dataTau: 120,
  leakBps: 0,
  noise: 150 * 1024,
  seed: 1,
  codeWarmMb: 2,
  codeTau: 180,
  heap: null,
};

/** Samples every 10 s with a forced-GC reading each: warm-up that bends into a line. */
export function series(shape: Partial<SeriesShape> = {}): Sample[] {
  const s = { ...SHAPE, ...shape };
  const noise = gaussian(s.seed);
  const heapNoise = gaussian(s.seed + 1_000);
  return Array.from({ length: Math.floor(s.seconds / 10) + 1 }, (_, i) => {
    const t = i * 10;
    const code = 4 * MB + s.codeWarmMb * MB * (1 - Math.exp(-t / s.codeTau));
    const data =
      100 * MB + s.dataWarmMb * MB * (1 - Math.exp(-t / s.dataTau)) + s.leakBps * t + s.noise * noise();
    const h = s.heap;
    const heap = h
      ? 25 * MB + h.warmMb * MB * (1 - Math.exp(-t / h.tau)) + h.leakBps * t + h.noise * heapNoise() + code
      : null;
    return sample(t, data + code, code, heap);
  });
}

function sample(t: number, liveRss: number, liveCode: number | null, liveHeap: number | null = null): Sample {
  return {
    t,
    rss: liveRss + 20 * MB,
    heapUsed: null,
    external: null,
    arrayBuffers: null,
    clients: 200,
    persistentSessions: 200,
    pendingCommands: 0,
    forwarderQueue: 0,
    liveRss,
    liveHeap,
    liveCode,
  };
}

/** A recorded run from test/soak/fixtures (t, RSS after full GC, V8 code[, heap after full GC]), as samples. */
export function recorded(name: string): Sample[] {
  const file = new URL(`./fixtures/${name}.json`, import.meta.url);
  const { points } = JSON.parse(readFileSync(file, "utf8")) as {
    points: Array<[number, number, number | null, number?]>;
  };
  return points.map(([t, liveRss, liveCode, liveHeap]) => sample(t, liveRss, liveCode, liveHeap ?? null));
}

export const upTo = (samples: Sample[], seconds: number) => samples.filter((s) => s.t <= seconds);
