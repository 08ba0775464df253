import { Readable } from "node:stream";
import { emptyOutgoing } from "./empty-outgoing.js";
import { SmallMap } from "./small-map.js";
import { allowedRecipients, allowedSubscriptions, foreignTopics } from "./subscription-guard.js";

/**
 * An Aedes persistence held in memory, written for this broker instead of
 * aedes-persistence's MemoryPersistence because that one never forgets a client:
 * its outgoing map gains an empty queue for every client id that ever acked a
 * message, and it has no way to drop a session's queue. Here every map is keyed
 * by client id, an entry is deleted as soon as it is empty, and
 * `forgetSession(id)` removes everything a session owns (the session reaper calls
 * it). A session only ever holds its device's own exact topics
 * (`deviceSubscriptionTopics`, enforced here by sessions/subscription-guard.ts
 * whatever Aedes hands over), so subscriptions are indexed by exact topic, not
 * by a wildcard trie.
 */

export interface StoredSubscription {
  topic: string;
  qos: number;
  rh?: number | undefined;
  rap?: boolean | undefined;
  nl?: boolean | undefined;
}

/** The packet fields Aedes hands to a persistence (an aedes-packet). */
export interface PersistedPacket {
  cmd: string;
  topic: string;
  payload: Buffer | string;
  qos: number;
  retain: boolean;
  dup?: boolean;
  messageId?: number | undefined;
  brokerId?: string;
  brokerCounter?: number;
  clientId?: string;
}

interface ClientRef {
  id: string;
}

type SubRecord = Omit<StoredSubscription, "topic">;

function copyPacket(packet: PersistedPacket): PersistedPacket {
  return { ...packet };
}

/** MQTT topic filter match (`+` one level, `#` the rest). */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split("/");
  const t = topic.split("/");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return true;
    if (i >= t.length) return false;
    if (f[i] !== "+" && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

export interface MemoryPersistenceOptions {
  /** Most messages queued for one offline session; the oldest is dropped beyond it. */
  maxQueuedPerSession?: number;
  onQueueOverflow?: (clientId: string) => void;
}

export class BoundedMemoryPersistence {
  /**
   * Bound: one entry per persistent session, holding at most its device's
   * `deviceSubscriptionTopics` (the guard drops any other filter); removed on
   * unsubscribe-all, clean connect and reaping.
   */
  readonly #subsByClient = new Map<string, SmallMap<string, SubRecord>>();
  /** Bound: one entry per subscribed topic (= per persistent session, one topic each). */
  readonly #subsByTopic = new Map<string, SmallMap<string, SubRecord>>();
  /** Bound: sessions × maxQueuedPerSession; a queue is deleted when empty. */
  readonly #outgoing = new Map<string, PersistedPacket[]>();
  /**
   * Bound: normally empty — devices' QoS 2 publishes are refused before Aedes stores them
   * (mqtt/acl.ts); at most sessions × Aedes `maxInflightInbound`. Deleted when empty.
   */
  readonly #incoming = new Map<string, Map<number, PersistedPacket>>();
  /** Bound: one per session; the broker strips wills at CONNECT, so normally empty. */
  readonly #wills = new Map<string, PersistedPacket & { clientId: string; brokerId: string }>();
  /** Bound: one per retained topic; the broker clears `retain` on device publishes, so normally empty. */
  readonly #retained = new Map<string, PersistedPacket>();
  readonly #maxQueued: number;
  readonly #onOverflow: (clientId: string) => void;
  #brokerId = "";

  constructor(options: MemoryPersistenceOptions = {}) {
    this.#maxQueued = options.maxQueuedPerSession ?? 1000;
    this.#onOverflow = options.onQueueOverflow ?? (() => {});
  }

  /** Aedes 1.x requires `setup` to be an AsyncFunction. */
  async setup(broker: { id: string }): Promise<void> {
    this.#brokerId = broker.id;
  }

  /** Live-object counts, for leak tests. */
  get counts(): { sessions: number; queues: number; incoming: number; wills: number; retained: number } {
    return {
      sessions: this.#subsByClient.size,
      queues: this.#outgoing.size,
      incoming: this.#incoming.size,
      wills: this.#wills.size,
      retained: this.#retained.size,
    };
  }

  async storeRetained(packet: PersistedPacket): Promise<void> {
    if (packet.payload.length === 0) this.#retained.delete(packet.topic);
    else this.#retained.set(packet.topic, copyPacket(packet));
  }

  createRetainedStreamCombi(patterns: string[]): Readable {
    const matches: PersistedPacket[] = [];
    for (const packet of this.#retained.values()) {
      if (patterns.some((pattern) => topicMatches(pattern, packet.topic))) matches.push(packet);
    }
    return Readable.from(matches);
  }

  createRetainedStream(pattern: string): Readable {
    return this.createRetainedStreamCombi([pattern]);
  }

  async addSubscriptions(client: ClientRef, requested: StoredSubscription[]): Promise<void> {
    const subs = allowedSubscriptions(client.id, requested);
    if (subs.length === 0) return;
    let stored = this.#subsByClient.get(client.id);
    if (!stored) {
      stored = new SmallMap();
      this.#subsByClient.set(client.id, stored);
    }
    for (const { topic, ...record } of subs) {
      stored.set(topic, record);
      let byTopic = this.#subsByTopic.get(topic);
      if (record.qos > 0) {
        if (!byTopic) {
          byTopic = new SmallMap();
          this.#subsByTopic.set(topic, byTopic);
        }
        byTopic.set(client.id, record);
      } else if (byTopic) {
        this.#removeTopicEntry(topic, client.id);
      }
    }
  }

  #removeTopicEntry(topic: string, clientId: string): void {
    const byTopic = this.#subsByTopic.get(topic);
    if (!byTopic) return;
    byTopic.delete(clientId);
    if (byTopic.size === 0) this.#subsByTopic.delete(topic);
  }

  async removeSubscriptions(client: ClientRef, topics: string[]): Promise<void> {
    const stored = this.#subsByClient.get(client.id);
    if (!stored) return;
    for (const topic of topics) {
      stored.delete(topic);
      this.#removeTopicEntry(topic, client.id);
    }
    if (stored.size === 0) this.#subsByClient.delete(client.id);
  }

  async subscriptionsByClient(client: ClientRef): Promise<StoredSubscription[]> {
    const stored = this.#subsByClient.get(client.id);
    const subs = stored ? [...stored].map(([topic, record]) => ({ topic, ...record })) : [];
    // Nothing foreign can be stored through addSubscriptions; this keeps restores safe regardless.
    const foreign = foreignTopics(client.id, subs);
    if (foreign.length > 0) await this.removeSubscriptions(client, foreign);
    return allowedSubscriptions(client.id, subs);
  }

  async countOffline(): Promise<{ subsCount: number; clientsCount: number }> {
    let subsCount = 0;
    for (const byTopic of this.#subsByTopic.values()) subsCount += byTopic.size;
    return { subsCount, clientsCount: this.#subsByClient.size };
  }

  async subscriptionsByTopic(topic: string): Promise<Array<StoredSubscription & { clientId: string }>> {
    const byTopic = this.#subsByTopic.get(topic);
    return byTopic ? [...byTopic].map(([clientId, record]) => ({ clientId, topic, ...record })) : [];
  }

  async cleanSubscriptions(client: ClientRef): Promise<void> {
    const stored = this.#subsByClient.get(client.id);
    if (stored) await this.removeSubscriptions(client, [...stored.keys()]);
    // A clean session owns no queue either [MQTT-3.1.2-6].
    this.#outgoing.delete(client.id);
  }

  #enqueue(clientId: string, packet: PersistedPacket): void {
    let queue = this.#outgoing.get(clientId);
    if (!queue) {
      queue = [];
      this.#outgoing.set(clientId, queue);
    }
    queue.push(copyPacket(packet));
    if (queue.length > this.#maxQueued) {
      queue.shift();
      this.#onOverflow(clientId);
    }
  }

  async outgoingEnqueue(sub: { clientId: string }, packet: PersistedPacket): Promise<void> {
    for (const allowed of allowedRecipients([sub], packet.topic)) this.#enqueue(allowed.clientId, packet);
  }

  async outgoingEnqueueCombi(subs: Array<{ clientId: string }>, packet: PersistedPacket): Promise<void> {
    for (const sub of allowedRecipients(subs, packet.topic)) this.#enqueue(sub.clientId, packet);
  }

  async outgoingUpdate(client: ClientRef, packet: PersistedPacket): Promise<void> {
    const queue = this.#outgoing.get(client.id);
    if (queue) {
      for (let i = 0; i < queue.length; i++) {
        const stored = queue[i];
        if (!stored) continue;
        if (stored.brokerId === packet.brokerId) {
          if (stored.brokerCounter === packet.brokerCounter) {
            stored.messageId = packet.messageId;
            return;
          }
        } else if (stored.messageId === packet.messageId) {
          queue[i] = packet;
          return;
        }
      }
    }
    throw new Error("no such packet");
  }

  async outgoingClearMessageId(
    client: ClientRef,
    packet: { messageId?: number },
  ): Promise<PersistedPacket | undefined> {
    const queue = this.#outgoing.get(client.id);
    if (!queue) return undefined;
    const index = queue.findIndex((stored) => stored.messageId === packet.messageId);
    if (index < 0) return undefined;
    const [removed] = queue.splice(index, 1);
    if (queue.length === 0) this.#outgoing.delete(client.id);
    return removed;
  }

  outgoingStream(client: ClientRef): Readable {
    const queued = this.#outgoing.get(client.id);
    // Nothing queued (an idle router reconnecting): the stream Aedes's pipeline skips.
    if (!queued || queued.length === 0) return emptyOutgoing();
    return Readable.from([...queued]);
  }

  async incomingStorePacket(client: ClientRef, packet: PersistedPacket): Promise<void> {
    if (packet.messageId === undefined) return;
    let store = this.#incoming.get(client.id);
    if (!store) {
      store = new Map();
      this.#incoming.set(client.id, store);
    }
    store.set(packet.messageId, copyPacket(packet));
  }

  async incomingGetPacket(client: ClientRef, packet: { messageId?: number }): Promise<PersistedPacket> {
    const stored =
      packet.messageId === undefined ? undefined : this.#incoming.get(client.id)?.get(packet.messageId);
    if (!stored) throw new Error("no such packet");
    return stored;
  }

  async incomingDelPacket(client: ClientRef, packet: { messageId?: number }): Promise<void> {
    const store = this.#incoming.get(client.id);
    if (!store || packet.messageId === undefined || !store.delete(packet.messageId)) {
      throw new Error("no such packet");
    }
    if (store.size === 0) this.#incoming.delete(client.id);
  }

  async cleanIncoming(client: ClientRef): Promise<void> {
    this.#incoming.delete(client.id);
  }

  async putWill(client: ClientRef, packet: PersistedPacket): Promise<void> {
    this.#wills.set(client.id, { ...packet, clientId: client.id, brokerId: this.#brokerId });
  }

  async getWill(client: ClientRef): Promise<PersistedPacket | undefined> {
    return this.#wills.get(client.id);
  }

  async delWill(client: ClientRef): Promise<PersistedPacket | undefined> {
    const will = this.#wills.get(client.id);
    this.#wills.delete(client.id);
    return will;
  }

  streamWill(brokers: Record<string, number> = {}): Readable {
    return Readable.from([...this.#wills.values()].filter((will) => !brokers[will.brokerId]));
  }

  getClientList(topic: string): Readable {
    return Readable.from([...(this.#subsByTopic.get(topic)?.keys() ?? [])]);
  }

  /** Removes everything a session owns: subscriptions, queued messages, QoS 2 state, will. */
  async forgetSession(clientId: string): Promise<void> {
    const stored = this.#subsByClient.get(clientId);
    if (stored) await this.removeSubscriptions({ id: clientId }, [...stored.keys()]);
    this.#outgoing.delete(clientId);
    this.#incoming.delete(clientId);
    this.#wills.delete(clientId);
  }

  /** True when a persistent session for this client has a QoS > 0 subscription to `topic`. */
  async hasSubscriber(topic: string, clientId: string): Promise<boolean> {
    return this.#subsByTopic.get(topic)?.has(clientId) ?? false;
  }

  async destroy(): Promise<void> {
    this.#subsByClient.clear();
    this.#subsByTopic.clear();
    this.#outgoing.clear();
    this.#incoming.clear();
    this.#wills.clear();
    this.#retained.clear();
  }
}
