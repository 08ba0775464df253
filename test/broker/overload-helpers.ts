/** What the admission-control tests share (overload.test.ts, adaptive-overload.test.ts). */
import type { MqttClient } from "mqtt";
import { expect } from "vitest";
import type { ManualClock, RunningBroker } from "../../broker/src/index.js";
import { bearer, RETRY_AFTER_HEADER } from "../../protocol/src/index.js";
import { API_TOKEN, waitFor } from "./helpers.js";

export interface Answer {
  status: number;
  body: unknown;
  retryAfter: string | null;
  ms: number;
}

/** POSTs a command and times the answer. */
export async function command(
  httpUrl: string,
  id: string,
  body: unknown = { name: "ping" },
): Promise<Answer> {
  const started = performance.now();
  const response = await fetch(`${httpUrl}/v1/devices/${id}/commands`, {
    method: "POST",
    headers: { authorization: bearer(API_TOKEN), "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return {
    status: response.status,
    body: await response.json(),
    retryAfter: response.headers.get(RETRY_AFTER_HEADER),
    ms: performance.now() - started,
  };
}

/** A router that takes every command and answers only when told to. */
export function holdingRouter(client: MqttClient, id: string) {
  const held: Array<{ id: string }> = [];
  client.on("message", (topic, payload) => {
    if (topic !== `devices/${id}/commands`) return;
    const parsed: unknown = JSON.parse(payload.toString());
    const commandId = typeof parsed === "object" && parsed !== null ? Reflect.get(parsed, "id") : undefined;
    if (typeof commandId === "string") held.push({ id: commandId });
  });
  return {
    held,
    answerAll() {
      this.answer(held.length);
    },
    /** Answers the `count` oldest commands held. */
    answer(count: number) {
      for (const { id: commandId } of held.splice(0, count)) {
        client.publish(`devices/${id}/results`, JSON.stringify({ id: commandId, ok: true, result: "done" }), {
          qos: 1,
        });
      }
    },
  };
}

/**
 * One 100 ms window of the broker's injected clock: `count` commands over the routers, each
 * answered `answerMs` (clock time) after it arrived; then the clock moves on 100 ms. The
 * adaptive limit reads only that clock, so a busy machine cannot change what it measures.
 */
export function clockedWindow(
  clock: ManualClock,
  broker: RunningBroker,
  ids: string[],
  routers: Array<ReturnType<typeof holdingRouter>>,
) {
  const slow = { name: "slow", timeoutMs: 30_000 };
  const heldInAll = () => routers.reduce((sum, router) => sum + router.held.length, 0);
  return async (count: number, answerMs: number): Promise<Answer[]> => {
    const answers = Array.from({ length: count }, (_, i) =>
      command(broker.httpUrl, ids[i % ids.length] ?? "", slow),
    );
    const settled = await waitFor(
      async () => {
        const refused = (await Promise.all(answers.map((a) => Promise.race([a, null])))).filter(
          (a) => a !== null,
        );
        return heldInAll() + refused.length === count ? true : null;
      },
      10_000,
      `${count} commands to be held or refused`,
    );
    expect(settled).toBe(true);
    clock.advance(answerMs);
    for (const router of routers) router.answerAll();
    const all = await Promise.all(answers);
    clock.advance(100);
    return all;
  };
}

/** `tether_commands_shed_total{reason}` of one broker. */
export async function shedTotal(broker: RunningBroker, reason: string): Promise<number> {
  const metric = await broker.metrics.commandsShed.get();
  return metric.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}
