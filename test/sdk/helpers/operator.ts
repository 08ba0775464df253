import { connectAsync, type MqttClient } from "mqtt";
import type { CommandResult } from "../../../protocol/src/index.js";
import {
  parseCommandResult,
  parseJson,
  parseState,
  parseTopic,
  topics,
} from "../../../protocol/src/index.js";

/**
 * A plain mqtt.js client playing the operator on a broker with no Tether policy
 * (Mosquitto, bare Aedes): publishes commands to a device and records what it publishes.
 */
export interface Operator {
  results: CommandResult[];
  states: Record<string, unknown>[];
  events: { name: string; data: unknown }[];
  sendCommand(command: Record<string, unknown> | string): Promise<void>;
  close(): Promise<void>;
}

export async function startOperator(url: string, deviceId: string): Promise<Operator> {
  const client: MqttClient = await connectAsync(url, {
    clientId: `operator-${deviceId}`,
    clean: true,
    reconnectPeriod: 0,
  });
  const operator: Operator = {
    results: [],
    states: [],
    events: [],
    async sendCommand(command) {
      const payload = typeof command === "string" ? command : JSON.stringify(command);
      await client.publishAsync(topics.commands(deviceId), payload, { qos: 1 });
    },
    async close() {
      await client.endAsync(true);
    },
  };
  client.on("message", (topic, payload) => {
    const where = parseTopic(topic);
    const json = parseJson(payload.toString());
    if (!where || !json.ok) return;
    if (where.kind === "results") {
      const result = parseCommandResult(json.value);
      if (result.ok) operator.results.push(result.value);
    } else if (where.kind === "state") {
      const state = parseState(json.value);
      if (state.ok) operator.states.push(state.value);
    } else if (where.kind === "event") {
      operator.events.push({ name: where.name, data: json.value });
    }
  });
  await client.subscribeAsync(
    [topics.results(deviceId), topics.state(deviceId), topics.event(deviceId, "+")],
    { qos: 1 },
  );
  return operator;
}
