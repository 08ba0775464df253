// @ts-check
/**
 * The console's desired-state card (issue 15): desired next to reported, key by key,
 * with the keys of the delta (not yet applied) highlighted; the versions and the
 * device's last failure; and an editor that sends a JSON merge patch as a `desired`
 * frame, only if the version shown is still current. Device data reaches the DOM
 * through textContent only.
 */
import { isRecord } from "./tether-frames.js";

/** @typedef {import("./tether-frames.js").DesiredInfo} DesiredInfo */

/** Cells longer than this are cut: one huge value must not freeze a phone. */
const MAX_CELL_CHARS = 400;

/** @param {unknown} value */
function cell(value) {
  if (value === undefined) return "—";
  const text = JSON.stringify(value) ?? "—";
  return text.length > MAX_CELL_CHARS ? `${text.slice(0, MAX_CELL_CHARS)}…` : text;
}

export class DesiredPanel {
  /** @type {DesiredInfo | null} */ #info = null;
  /** @type {Record<string, unknown> | null} */ #reported = null;

  /**
   * @param {{ rows: HTMLTableSectionElement, versions: HTMLElement, error: HTMLElement, empty: HTMLElement,
   *   form: HTMLFormElement, patch: HTMLTextAreaElement, send: HTMLButtonElement, formError: HTMLElement }} ui
   * @param {(patch: Record<string, unknown>, ifVersion: number) => void} send
   */
  constructor(ui, send) {
    this.ui = ui;
    ui.form.addEventListener("submit", (event) => {
      event.preventDefault();
      const patch = this.#readPatch();
      if (patch !== null) send(patch, this.#info?.desiredVersion ?? 0);
    });
  }

  /** @param {DesiredInfo | null} info */
  setDesired(info) {
    this.#info = info;
    this.render();
  }

  /** @param {Record<string, unknown> | null} state */
  setReported(state) {
    this.#reported = state;
    this.render();
  }

  /** @param {boolean} open */
  setConnected(open) {
    this.ui.send.disabled = !open;
  }

  /** @param {string} message */
  showError(message) {
    this.ui.formError.textContent = message;
  }

  clear() {
    this.#info = null;
    this.#reported = null;
    this.ui.formError.textContent = "";
    this.render();
  }

  render() {
    const { rows, versions, error, empty } = this.ui;
    const info = this.#info;
    rows.replaceChildren();
    const keys = info ? Object.keys(info.desired) : [];
    empty.hidden = keys.length > 0;
    for (const key of keys.sort()) {
      const row = document.createElement("tr");
      const lagging = info !== null && Object.hasOwn(info.delta, key);
      row.dataset.delta = String(lagging);
      for (const text of [key, cell(info?.desired[key]), cell(this.#reported?.[key])]) {
        const td = document.createElement("td");
        td.textContent = text;
        row.append(td);
      }
      rows.append(row);
    }
    if (info === null) {
      versions.textContent = "no desired state yet";
      versions.dataset.converged = "";
    } else {
      const reported = info.reportedDesiredVersion ?? "none";
      const pending = Object.keys(info.delta).length;
      versions.textContent = `version ${info.desiredVersion} · applied ${reported} · ${pending === 0 ? "in sync" : `${pending} pending`}`;
      versions.dataset.converged = String(
        pending === 0 && info.reportedDesiredVersion === info.desiredVersion,
      );
    }
    const failure = info?.desiredError;
    error.textContent = failure
      ? `version ${failure.version} failed: ${failure.code}: ${failure.message}`
      : "";
  }

  /** @returns {Record<string, unknown> | null} */
  #readPatch() {
    this.ui.formError.textContent = "";
    try {
      const value = JSON.parse(this.ui.patch.value);
      if (isRecord(value)) return value;
      this.ui.formError.textContent =
        'A merge patch is a JSON object, e.g. {"wifi": {"ssid": "home"}}; null deletes a key.';
    } catch (error) {
      this.ui.formError.textContent = `Not valid JSON: ${error instanceof Error ? error.message : String(error)}`;
    }
    return null;
  }
}
