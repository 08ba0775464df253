/**
 * Size limits shared by the broker (which builds event batches) and the edge (which
 * reads them): spelled once, here, so the two can never disagree (issue 12).
 */
export const EVENT_BATCH_LIMITS = {
  /** Largest `POST /internal/events` body the edge reads (413 above it). */
  maxBodyBytes: 1024 * 1024,
  /** Most events in one batch (400 above it). */
  maxEvents: 1000,
} as const;

/**
 * Room a batch needs besides its events: `{"batchId":"<≤128>","events":[` … `]}`.
 * Generous, so that an event of MAX_EVENT_BYTES always fits alone in a batch.
 */
const BATCH_ENVELOPE_BYTES = 1024;

/** Largest serialized event: one that fits alone in a batch under the edge's body limit. */
export const MAX_EVENT_BYTES = EVENT_BATCH_LIMITS.maxBodyBytes - BATCH_ENVELOPE_BYTES;

/**
 * Deepest nesting of arrays and objects accepted in a device payload. `JSON.parse`
 * accepts thousands of levels, but `JSON.stringify` (and any recursive reader) fails
 * on them: a 16 KB `[[[…]]]` of 7,000 levels once sank whole event batches.
 */
export const MAX_JSON_DEPTH = 32;

/**
 * True when `text` nests arrays/objects deeper than `maxDepth`. A linear scan of the
 * raw text (strings skipped), so it costs no recursion and runs before JSON.parse.
 */
export function jsonDepthExceeds(text: string, maxDepth: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) return true;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return false;
}
