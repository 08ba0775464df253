import { SETTINGS } from "./settings.js";

/** The text of `npm run broker -- --help`. */
export function helpText(): string {
  const rows = SETTINGS.map((s) => {
    const value = s.required
      ? "required"
      : s.default === undefined
        ? "unset"
        : `default ${s.default || '""'}`;
    return `  --${s.flag} <value>\n      ${s.env}; ${value}. ${s.help}.`;
  });
  return [
    "Tether broker: MQTT for the router fleet, HTTP API for the edge.",
    "",
    "Usage:",
    "  npm run broker -- [serve] [flags]              start the broker (default command)",
    "  npm run broker -- credentials <deviceId>       print the device's MQTT password (from DEVICE_SECRET)",
    "  npm run broker -- --help                       this text",
    "",
    "Every setting is a flag or an environment variable; a flag wins over the variable.",
    "Each secret may instead come from a file: DEVICE_SECRET_FILE, DEVICE_SECRET_PREVIOUS_FILE,",
    "BROKER_API_TOKEN_FILE, EDGE_EVENTS_SECRET_FILE (or --device-secret-file and so on); prefer",
    "those or the environment to flags, which other users can read in `ps`.",
    "",
    "Flags:",
    ...rows,
    "",
    "Signals: SIGTERM/SIGINT close gracefully (a second one exits at once).",
    "Exit codes: 0 ok, 1 runtime failure (e.g. a port in use), 2 bad configuration.",
  ].join("\n");
}
