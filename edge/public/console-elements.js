// @ts-check
/**
 * The web console's page elements, looked up once by id (console.js wires them);
 * a missing element fails at load with its id, not later with a null.
 */

/**
 * @template {HTMLElement} T
 * @param {string} id
 * @param {new () => T} type
 * @returns {T}
 */
export function byId(id, type) {
  const element = document.getElementById(id);
  if (!(element instanceof type)) throw new Error(`console: #${id} is missing`);
  return element;
}

export const ui = {
  status: byId("status", HTMLElement),
  statusDetail: byId("status-detail", HTMLElement),
  connectPanel: byId("connect-panel", HTMLDetailsElement),
  connectSummary: byId("connect-summary", HTMLElement),
  connectForm: byId("connect-form", HTMLFormElement),
  edgeUrl: byId("edge-url", HTMLInputElement),
  deviceId: byId("device-id", HTMLInputElement),
  token: byId("token", HTMLInputElement),
  rememberToken: byId("remember-token", HTMLInputElement),
  tokenInfo: byId("token-info", HTMLElement),
  connect: byId("connect", HTMLButtonElement),
  disconnect: byId("disconnect", HTMLButtonElement),
  forget: byId("forget", HTMLButtonElement),
  connectError: byId("connect-error", HTMLElement),
  deviceLabel: byId("device-label", HTMLElement),
  presence: byId("presence", HTMLElement),
  since: byId("since", HTMLElement),
  lastSeen: byId("last-seen", HTMLElement),
  state: byId("state", HTMLElement),
  commandForm: byId("command-form", HTMLFormElement),
  commandName: byId("command-name", HTMLInputElement),
  commandTimeout: byId("command-timeout", HTMLInputElement),
  commandParams: byId("command-params", HTMLTextAreaElement),
  sendCommand: byId("send-command", HTMLButtonElement),
  commandHint: byId("command-hint", HTMLElement),
  commandError: byId("command-error", HTMLElement),
  commandResult: byId("command-result", HTMLElement),
  events: byId("events", HTMLOListElement),
  eventCount: byId("event-count", HTMLElement),
  eventsEmpty: byId("events-empty", HTMLElement),
  clearEvents: byId("clear-events", HTMLButtonElement),
};
