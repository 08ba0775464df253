// @ts-check
/**
 * The web console: one TetherClient for the chosen device, wired to the page.
 * Settings come from the form, storage (console-settings.js: the token per tab
 * unless "remember" is ticked, and only for the edge it was entered for), or
 * `#device=…&token=…&edge=…` (read once, then wiped from the address bar and
 * history; an `edge` other than this page's origin is used only if the user confirms).
 */
import { sendCommand } from "./console-command.js";
import { ConnectForm } from "./console-connect-form.js";
import { DesiredPanel } from "./console-desired.js";
import { byId, ui } from "./console-elements.js";
import { setupJobs } from "./console-jobs.js";
import { TokenVault, tokenRefusal } from "./console-settings.js";
import {
  connectionLabel,
  describeToken,
  EventList,
  prettyJson,
  refusalDetail,
  showTime,
  summarize,
} from "./console-view.js";
import { isDeviceId, TetherClient } from "./tether-client.js";

/** @typedef {import("./tether-client.js").StatusChange} StatusChange */
/** @typedef {import("./tether-client.js").TetherEvent} TetherEvent */
/** @typedef {import("./tether-client.js").SnapshotFrame} SnapshotFrame */

const MAX_EVENT_ROWS = 200;

const events = new EventList(ui.events, ui.eventCount, ui.eventsEmpty, MAX_EVENT_ROWS);
const desired = new DesiredPanel(
  {
    rows: byId("desired-rows", HTMLTableSectionElement),
    versions: byId("desired-versions", HTMLElement),
    error: byId("desired-failure", HTMLElement),
    empty: byId("desired-empty", HTMLElement),
    form: byId("desired-form", HTMLFormElement),
    patch: byId("desired-patch", HTMLTextAreaElement),
    send: byId("send-desired", HTMLButtonElement),
    formError: byId("desired-error", HTMLElement),
  },
  (patch, ifVersion) => {
    try {
      client?.sendDesired(patch, { ifVersion });
    } catch (error) {
      desired.showError(error instanceof Error ? error.message : String(error));
    }
  },
);
/** @type {TetherClient | null} */
let client = null;
/** Client errors are shown as rows too; this numbers their keys. */
let errorRows = 0;
/** What the page knows about the device, refreshed by the snapshot and by events. */
const device = {
  /** @type {boolean | null} */ online: null,
  /** @type {number | null} */ since: null,
  /** @type {number | null} */ lastSeen: null,
};
/** @type {{ state: StatusChange["state"], retryAt: number | null, attempt: number, code?: number }} */
const connection = { state: "idle", retryAt: null, attempt: 0 };
/** On a phone the settings fold away once connected, so the device is on screen. */
const narrowScreen = matchMedia("(max-width: 899px)");
let foldOnOpen = false;

const form = new ConnectForm(
  {
    edgeUrl: ui.edgeUrl,
    deviceId: ui.deviceId,
    token: ui.token,
    rememberToken: ui.rememberToken,
    tokenInfo: ui.tokenInfo,
    connectError: ui.connectError,
  },
  new TokenVault(
    () => sessionStorage,
    () => localStorage,
  ),
  { pageOrigin: location.origin, confirm: (question) => confirm(question) },
);

/** @returns {boolean} whether the link asked to connect at once */
function loadSettings() {
  const hash = new URLSearchParams(location.hash.slice(1));
  // The hash (it may hold a token) leaves the address bar and the history at once.
  if (location.hash !== "") history.replaceState(null, "", location.pathname + location.search);
  return form.load(hash);
}

/** The edge field may name another origin: its token is forgotten (ConnectForm). */
function onEdgeChanged() {
  if (form.edgeChanged()) ui.tokenInfo.classList.add("warn");
}

function connect() {
  // A `change` event may not have fired yet (Enter in the edge field submits at once).
  onEdgeChanged();
  const deviceId = ui.deviceId.value.trim();
  const token = ui.token.value.trim();
  ui.connectError.textContent = "";
  if (!isDeviceId(deviceId)) {
    ui.connectError.textContent = "Device id: 1–64 letters, digits, _ or -.";
    return;
  }
  if (token === "") {
    ui.connectError.textContent = "Paste a client token (JWT issued by Rails).";
    return;
  }
  // Stop before the first attempt: a browser cannot see the edge's 403, so retrying
  // a device the token does not list would only fail again and again.
  const refusal = tokenRefusal(token, deviceId, Date.now());
  if (refusal !== null) {
    ui.connectError.textContent = refusal;
    return;
  }
  form.keep(deviceId, token);
  const sameDevice = client?.deviceId === deviceId;
  client?.close();
  if (!sameDevice) resetDeviceView(deviceId);
  try {
    client = new TetherClient({ baseUrl: form.edgeBase(), deviceId, token });
  } catch (error) {
    client = null;
    ui.connectError.textContent = error instanceof Error ? error.message : String(error);
    return;
  }
  foldOnOpen = narrowScreen.matches;
  ui.connectSummary.textContent = `${deviceId} @ ${new URL(form.edgeBase()).host}`;
  client.on("status", onStatus);
  client.on("snapshot", onSnapshot);
  client.on("event", onEvent);
  client.on("desired", (frame) => desired.setDesired(frame));
  client.on("error", (error) => {
    if (error.code === "version_conflict")
      desired.showError("Someone changed it meanwhile: check it and apply again.");
    const payload = { code: error.code, message: error.message, source: error.source };
    errorRows += 1;
    const row = { ts: Date.now(), type: "error", summary: `${error.code}: ${error.message}`, payload };
    events.add({ ...row, key: `error|${errorRows}`, tone: "bad" });
  });
  client.connect();
}

/** @param {string} deviceId */
function resetDeviceView(deviceId) {
  device.online = null;
  device.since = null;
  device.lastSeen = null;
  ui.deviceLabel.textContent = deviceId;
  ui.state.textContent = "—";
  // Nothing said about the previous device stays on screen.
  ui.commandResult.textContent = "";
  ui.commandResult.dataset.ok = "";
  ui.commandError.textContent = "";
  ui.statusDetail.textContent = "";
  events.clear();
  desired.clear();
  renderDevice();
}

/** @param {StatusChange} status */
function onStatus(status) {
  connection.state = status.state;
  connection.attempt = status.attempt;
  connection.retryAt = status.state === "reconnecting" ? Date.now() + (status.delayMs ?? 0) : null;
  connection.code = status.code;
  if (status.state === "auth_or_unreachable") void diagnose();
  if (status.state === "open" && foldOnOpen) {
    foldOnOpen = false;
    ui.connectPanel.open = false;
  }
  renderConnection();
}

/** A browser cannot see why an upgrade failed; /healthz tells "unreachable" from "refused". */
async function diagnose() {
  let reachable = false;
  try {
    reachable = (await fetch(new URL("/healthz", form.edgeBase()), { cache: "no-store" })).ok;
  } catch {
    reachable = false;
  }
  if (connection.state !== "auth_or_unreachable") return;
  ui.statusDetail.textContent = reachable
    ? "edge reachable: token refused, expired, or not for this device"
    : "edge unreachable: check the URL and the network";
}

/** @param {SnapshotFrame} snapshot */
function onSnapshot(snapshot) {
  device.online = snapshot.device.online;
  device.since = snapshot.device.since;
  device.lastSeen = snapshot.device.lastSeen;
  ui.state.textContent =
    snapshot.device.state === null ? "no state reported yet" : prettyJson(snapshot.device.state);
  desired.setReported(snapshot.device.state);
  desired.setDesired(snapshot.desired);
  for (const event of snapshot.recent) addEventRow(event);
  renderDevice();
}

/** @param {TetherEvent} event */
function onEvent(event) {
  const ts = event.ts ?? Date.now();
  if (event.type === "state") {
    ui.state.textContent = prettyJson(event.state);
    desired.setReported(event.state);
  }
  if (event.type === "presence") {
    device.online = event.online;
    device.since = event.ts;
  }
  if (event.type !== "command_result") device.lastSeen = Math.max(device.lastSeen ?? 0, ts);
  addEventRow(event);
  renderDevice();
}

/** @param {TetherEvent} event */
function addEventRow(event) {
  const ts = event.ts ?? Date.now();
  const detail = event.type === "event" ? event.name : event.type === "command_result" ? event.id : "";
  const failed = event.type === "command_result" && !event.ok;
  events.add({
    ts,
    type: event.type,
    summary: summarize(event),
    payload: event,
    key: `${event.type}|${ts}|${detail}`,
    ...(failed ? { tone: /** @type {const} */ ("bad") } : {}),
  });
}

function renderDevice() {
  const now = Date.now();
  const known = device.online !== null;
  ui.presence.textContent = !known ? "unknown" : device.online ? "online" : "offline";
  ui.presence.dataset.online = !known ? "unknown" : String(device.online);
  showTime(ui.since, device.since, now);
  showTime(ui.lastSeen, device.lastSeen, now);
}

function renderConnection() {
  const { state, attempt, retryAt } = connection;
  ui.status.textContent = connectionLabel(state);
  ui.status.dataset.state = state;
  const details = {
    idle: "",
    connecting: attempt > 0 ? `attempt ${attempt + 1}…` : "",
    open: "live",
    reconnecting: `retry ${attempt} in ${Math.max(0, Math.ceil(((retryAt ?? 0) - Date.now()) / 1000))} s`,
    auth_or_unreachable: "token refused or edge unreachable",
    unauthorized: refusalDetail(connection.code),
    closed: "",
  };
  if (state !== "auth_or_unreachable" || ui.statusDetail.textContent === "")
    ui.statusDetail.textContent = details[state];
  const open = state === "open";
  const active = open || state === "connecting" || state === "reconnecting";
  ui.disconnect.disabled = !active;
  ui.connect.textContent = active ? "Reconnect" : "Connect";
  ui.sendCommand.disabled = !open;
  desired.setConnected(open);
  ui.commandHint.textContent = open ? "" : "connect first";
}

function renderTokenInfo() {
  const info = describeToken(ui.token.value.trim(), ui.deviceId.value.trim(), Date.now());
  ui.tokenInfo.textContent = info.text;
  ui.tokenInfo.classList.toggle("warn", info.warn);
}

ui.connectForm.addEventListener("submit", (event) => {
  event.preventDefault();
  connect();
});
ui.disconnect.addEventListener("click", () => client?.close());
ui.forget.addEventListener("click", () => {
  form.forgetToken();
  renderTokenInfo();
});
ui.edgeUrl.addEventListener("change", onEdgeChanged);
ui.commandForm.addEventListener("submit", (event) => {
  event.preventDefault();
  void sendCommand(ui, client, () => connection.state === "open");
});
ui.clearEvents.addEventListener("click", () => events.clear());
ui.token.addEventListener("input", () => {
  form.tokenEntered();
  renderTokenInfo();
});
ui.deviceId.addEventListener("input", renderTokenInfo);
ui.edgeUrl.placeholder = location.origin;
// One ticker (the page's only timer) keeps "5 min ago" and the retry countdown true.
setInterval(() => {
  renderDevice();
  if (connection.state === "reconnecting") renderConnection();
}, 1000);

// The Rails token never leaves for another origin: the Jobs view talks to this page's edge only.
setupJobs(() => location.origin);

const autoConnect = loadSettings();
renderTokenInfo();
renderDevice();
renderConnection();
if (autoConnect) connect();
