import type { Redis } from "ioredis";
import { type DesiredDocument, parseDesiredDocument, parseJson } from "../../../protocol/src/index.js";
import type { DesiredPutOutcome, DesiredStore } from "./desired-store.js";

/**
 * KEYS: desired:{id}. ARGV: version, document JSON, ttl seconds. Keeps the document unless
 * the key holds a version ≥ it; returns {outcome, the document held afterwards}. One script,
 * so two nodes handed two versions at once never keep the older one.
 */
const PUT_DESIRED = `
local held = redis.call('GET', KEYS[1])
if held then
  local version = tonumber(cjson.decode(held).version)
  if version >= tonumber(ARGV[1]) then
    redis.call('EXPIRE', KEYS[1], ARGV[3])
    if version == tonumber(ARGV[1]) then return {'same', held} end
    return {'stale', held}
  end
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return {'stored', ARGV[2]}`;

/**
 * Redis mode: one key `desired:{id}` per device, shared by every node, expiring
 * `ttlSeconds` after its last write (the session expiry: a device away longer has lost
 * its session too, and the edge hands the document again when it returns).
 */
export class RedisDesiredStore implements DesiredStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlSeconds: number,
  ) {}

  #key(deviceId: string): string {
    return `${this.prefix}desired:${deviceId}`;
  }

  async put(deviceId: string, doc: DesiredDocument) {
    const reply = (await this.redis.eval(
      PUT_DESIRED,
      1,
      this.#key(deviceId),
      String(doc.version),
      JSON.stringify(doc),
      String(this.ttlSeconds),
    )) as [string, string];
    const current = decode(reply[1]) ?? doc;
    return { outcome: reply[0] as DesiredPutOutcome, current };
  }

  async get(deviceId: string): Promise<DesiredDocument | null> {
    const text = await this.redis.get(this.#key(deviceId));
    return text === null ? null : decode(text);
  }
}

function decode(text: string): DesiredDocument | null {
  const json = parseJson(text);
  const doc = json.ok ? parseDesiredDocument(json.value) : json;
  return doc.ok ? doc.value : null;
}
