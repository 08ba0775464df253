// @ts-check
/**
 * The web console's command form: reads and checks name, timeout and JSON params,
 * sends them over the TetherClient and shows the result (or why it failed).
 */
import { describeResult } from "./console-view.js";
import { isCommandName } from "./tether-client.js";

/** @typedef {typeof import("./console-elements.js").ui} ConsoleElements */

/**
 * @param {ConsoleElements} ui
 * @returns {{ name: string, params: unknown, timeoutMs: number } | string}
 */
function readCommand(ui) {
  const name = ui.commandName.value.trim();
  if (!isCommandName(name)) return "Name: 1–64 letters, digits, _ . or -.";
  const timeoutMs = Number(ui.commandTimeout.value || "10000");
  if (!Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 60_000) return "Timeout: 100–60000 ms.";
  const text = ui.commandParams.value.trim();
  if (text === "") return { name, params: undefined, timeoutMs };
  try {
    return { name, params: JSON.parse(text), timeoutMs };
  } catch (error) {
    return `Params are not valid JSON: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/**
 * @param {ConsoleElements} ui
 * @param {import("./tether-client.js").TetherClient | null} client
 * @param {() => boolean} isOpen whether the connection is open once the command is done
 */
export async function sendCommand(ui, client, isOpen) {
  const command = readCommand(ui);
  ui.commandError.textContent = typeof command === "string" ? command : "";
  if (typeof command === "string" || client === null) return;
  ui.sendCommand.disabled = true;
  ui.commandResult.dataset.ok = "pending";
  ui.commandResult.textContent = `sending ${command.name}…`;
  try {
    const result = await client.sendCommand(command.name, command.params, { timeoutMs: command.timeoutMs });
    ui.commandResult.dataset.ok = String(result.ok);
    ui.commandResult.textContent = describeResult(result);
  } catch (error) {
    ui.commandResult.dataset.ok = "false";
    const code = error instanceof Error && "code" in error ? String(error.code) : "error";
    ui.commandResult.textContent = `${code}: ${error instanceof Error ? error.message : String(error)}`;
  } finally {
    ui.sendCommand.disabled = !isOpen();
  }
}
