import type { DesiredDocument } from "../../../protocol/src/index.js";

/** What storing a document did: `stored` (newer), `same` (that version already held), `stale` (older). */
export type DesiredPutOutcome = "stored" | "same" | "stale";

/**
 * The latest desired document per device (issue 15). The edge's DeviceChannel is the
 * source of truth and hands each version here; the broker keeps only the latest, so
 * that it can deliver it on every connect without asking the edge. Losing an entry
 * (eviction, a memory-mode restart) costs nothing but a round trip: the edge hands the
 * document again when it sees the device come online or report an older version.
 */
export interface DesiredStore {
  /** Keeps `doc` unless a version ≥ it is held (compare-and-set on the version). */
  put(
    deviceId: string,
    doc: DesiredDocument,
  ): Promise<{ outcome: DesiredPutOutcome; current: DesiredDocument }>;
  get(deviceId: string): Promise<DesiredDocument | null>;
}

/** Default bound of the in-memory store: 64 MiB of serialized documents (8,192 full 8 KiB ones). */
export const DEFAULT_MAX_DESIRED_BYTES = 64 * 1024 * 1024;

/** Per-entry overhead counted on top of the document's bytes (key, Map entry, object). */
const ENTRY_OVERHEAD_BYTES = 128;

interface Entry {
  doc: DesiredDocument;
  bytes: number;
}

/**
 * Memory mode: a least-recently-used map bounded in bytes (the serialized document plus
 * a fixed overhead per entry). Beyond `maxBytes` the least recently stored or read
 * documents are dropped; `evictions` counts them.
 */
export class MemoryDesiredStore implements DesiredStore {
  /** Bounded by `maxBytes` (LRU); an entry goes on eviction or when replaced by a newer version. */
  readonly #entries = new Map<string, Entry>();
  #bytes = 0;
  evictions = 0;

  constructor(private readonly maxBytes: number = DEFAULT_MAX_DESIRED_BYTES) {}

  get bytes(): number {
    return this.#bytes;
  }

  get size(): number {
    return this.#entries.size;
  }

  async put(deviceId: string, doc: DesiredDocument) {
    const held = this.#entries.get(deviceId);
    if (held && held.doc.version >= doc.version) {
      this.#touch(deviceId, held);
      return {
        outcome: held.doc.version === doc.version ? ("same" as const) : ("stale" as const),
        current: held.doc,
      };
    }
    this.#remove(deviceId);
    const entry = {
      doc,
      bytes: Buffer.byteLength(JSON.stringify(doc)) + deviceId.length + ENTRY_OVERHEAD_BYTES,
    };
    this.#entries.set(deviceId, entry);
    this.#bytes += entry.bytes;
    for (const [oldest] of this.#entries) {
      if (this.#bytes <= this.maxBytes || oldest === deviceId) break;
      this.#remove(oldest);
      this.evictions++;
    }
    return { outcome: "stored" as const, current: doc };
  }

  async get(deviceId: string): Promise<DesiredDocument | null> {
    const entry = this.#entries.get(deviceId);
    if (!entry) return null;
    this.#touch(deviceId, entry);
    return entry.doc;
  }

  #touch(deviceId: string, entry: Entry): void {
    this.#entries.delete(deviceId);
    this.#entries.set(deviceId, entry);
  }

  #remove(deviceId: string): void {
    const entry = this.#entries.get(deviceId);
    if (!entry) return;
    this.#entries.delete(deviceId);
    this.#bytes -= entry.bytes;
  }
}
