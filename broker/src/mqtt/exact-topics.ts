/** A subscriber of mqemitter: called with each matching packet and a callback. */
type Listener = (packet: unknown, done: () => void) => void;

/** The parts of Aedes 1.2's default `mq` (mqemitter 7) that exact-topic routing reads and replaces. */
interface DefaultMq {
  on(topic: string, notify: Listener, done?: () => void): unknown;
  removeListener(topic: string, notify: Listener, done?: () => void): unknown;
  _do(message: { topic: string }, callback: unknown): unknown;
  _matcher: { match(topic: string): Listener[] };
  _parallel(that: unknown, listeners: Listener[], message: unknown, callback: unknown): void;
  _doing: boolean;
  current: number;
}

function isDefaultMq(mq: unknown): mq is DefaultMq {
  if (typeof mq !== "object" || mq === null) return false;
  const matcher: unknown = Reflect.get(mq, "_matcher");
  return (
    typeof Reflect.get(mq, "on") === "function" &&
    typeof Reflect.get(mq, "removeListener") === "function" &&
    typeof Reflect.get(mq, "_do") === "function" &&
    typeof Reflect.get(mq, "_parallel") === "function" &&
    typeof Reflect.get(mq, "current") === "number" &&
    typeof matcher === "object" &&
    matcher !== null &&
    typeof Reflect.get(matcher, "match") === "function"
  );
}

/** MQTT wildcards [MQTT-4.7.1]: a filter with either goes to mqemitter's trie as before. */
function hasWildcard(topic: string): boolean {
  return topic.includes("+") || topic.includes("#");
}

/**
 * Exact-topic subscriptions in one Map beside mqemitter's trie (issue 14). Every router
 * subscribes only to its own exact topics (`devices/{id}/commands`, `…/desired`); in
 * mqemitter's trie (qlobber) each such subscription costs a Map per topic level below the
 * shared `devices` node and a listener array — old-generation state per idle router that
 * every full GC walks — and a split of the topic into words per SUBSCRIBE, per unsubscribe
 * and per publish. Here an exact topic is one Map entry holding its listener (an array only
 * when there are several); filters with wildcards (the broker's own `$SYS/+/…` and bus
 * subscriptions) stay in the trie, and a publish is delivered to the listeners of both.
 * Semantics are mqemitter's: `on` calls `done` on the next turn, `removeListener` removes
 * on the next turn (the last-added equal listener), duplicates are kept.
 *
 * Patches the instance Aedes created (memory mode; Redis mode brings mqemitter-redis).
 * Returns false, changing nothing, if that instance is not the mqemitter this was written
 * for (mqemitter 7.1 internals, checked by test/broker/exact-topics.test.ts).
 */
export function routeExactTopics(mq: unknown): boolean {
  if (!isDefaultMq(mq)) return false;
  /**
   * Exact topic → its listener(s). Bound: one entry per exact topic with a subscriber
   * (a connected device's own topics); an entry goes with its last listener.
   */
  const exact = new Map<string, Listener | Listener[]>();
  const trieOn = mq.on;
  const trieRemove = mq.removeListener;

  function add(topic: string, notify: Listener): void {
    const current = exact.get(topic);
    if (current === undefined) exact.set(topic, notify);
    else if (Array.isArray(current)) current.push(notify);
    else exact.set(topic, [current, notify]);
  }

  function remove(topic: string, notify: Listener): void {
    const current = exact.get(topic);
    if (current === notify) {
      exact.delete(topic);
      return;
    }
    if (!Array.isArray(current)) return;
    const index = current.lastIndexOf(notify);
    if (index < 0) return;
    current.splice(index, 1);
    const [only] = current;
    if (current.length === 1 && only) exact.set(topic, only);
  }

  mq.on = function on(this: DefaultMq, topic: string, notify: Listener, done?: () => void) {
    if (hasWildcard(topic)) return trieOn.call(this, topic, notify, done);
    add(topic, notify);
    if (done) setImmediate(done);
    return this;
  };
  mq.removeListener = function removeListener(
    this: DefaultMq,
    topic: string,
    notify: Listener,
    done?: () => void,
  ) {
    if (hasWildcard(topic)) return trieRemove.call(this, topic, notify, done);
    setImmediate(() => {
      remove(topic, notify);
      done?.();
    });
    return this;
  };
  // mqemitter's _do, with the exact listeners added to the trie's matches.
  mq._do = function doEmit(this: DefaultMq, message: { topic: string }, callback: unknown) {
    this._doing = true;
    const own = exact.get(message.topic);
    const matches = this._matcher.match(message.topic);
    this.current++;
    this._parallel(this, own === undefined ? matches : matches.concat(own), message, callback);
    return this;
  };
  return true;
}
