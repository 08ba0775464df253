// @ts-check
/**
 * The console's connect form: edge URL, device id and token, filled from storage or
 * from a link's `#edge=…&device=…&token=…`, under the rules of console-settings.js —
 * an `edge` other than the page's origin only after the user confirms it, and a token
 * only ever for the edge origin it was entered for.
 */
import { httpOrigin, judgeLinkedEdge, STORAGE_KEYS } from "./console-settings.js";

/** @typedef {import("./console-settings.js").TokenVault} TokenVault */

/**
 * @typedef {{
 *   edgeUrl: HTMLInputElement, deviceId: HTMLInputElement, token: HTMLInputElement,
 *   rememberToken: HTMLInputElement, tokenInfo: HTMLElement, connectError: HTMLElement,
 * }} ConnectFields
 */

export class ConnectForm {
  #fields;
  #vault;
  #pageOrigin;
  #confirm;
  /** The edge origin the token field belongs to: another origin forgets the token. */
  #tokenOrigin;

  /**
   * @param {ConnectFields} fields
   * @param {TokenVault} vault
   * @param {{ pageOrigin: string, confirm: (question: string) => boolean }} page
   */
  constructor(fields, vault, page) {
    this.#fields = fields;
    this.#vault = vault;
    this.#pageOrigin = page.pageOrigin;
    this.#confirm = page.confirm;
    this.#tokenOrigin = page.pageOrigin;
  }

  /**
   * Fills the form from storage, then from the link's hash (a URLSearchParams).
   * @param {URLSearchParams} hash
   * @returns {boolean} whether the link asked to connect at once
   */
  load(hash) {
    const f = this.#fields;
    f.edgeUrl.value = this.#vault.setting(STORAGE_KEYS.edge);
    f.deviceId.value = this.#vault.setting(STORAGE_KEYS.device);
    this.#tokenOrigin = this.edgeOrigin();
    f.token.value = this.#vault.load(this.#tokenOrigin);
    f.rememberToken.checked = this.#vault.remembered;
    const link = { edge: hash.get("edge"), device: hash.get("device"), token: hash.get("token") };
    if (link.edge !== null && !this.#acceptLinkedEdge(link.edge)) return false;
    if (link.device !== null) f.deviceId.value = link.device;
    if (link.token !== null) f.token.value = link.token;
    return link.device !== null && link.token !== null;
  }

  /** The URL the console connects to (this page's when the field is empty). */
  edgeBase() {
    return this.#fields.edgeUrl.value.trim() || this.#pageOrigin;
  }

  /** The origin the console connects to (this page's when the field is empty or not a URL). */
  edgeOrigin() {
    return httpOrigin(this.edgeBase()) ?? this.#pageOrigin;
  }

  /**
   * The edge field may name another origin now: the token in the form was not meant
   * for it, so it is forgotten. Returns true when it was.
   */
  edgeChanged() {
    const origin = this.edgeOrigin();
    if (origin === this.#tokenOrigin) return false;
    this.#tokenOrigin = origin;
    if (this.#fields.token.value === "" && !this.#vault.remembered) return false;
    this.forgetToken();
    this.#fields.tokenInfo.textContent = `The edge changed to ${origin}: the token was forgotten; paste one for this edge.`;
    return true;
  }

  /** A token typed or pasted now is meant for the edge the form names now. */
  tokenEntered() {
    this.#tokenOrigin = this.edgeOrigin();
  }

  /**
   * Keeps what the user connected with: edge and device as settings, the token with its origin.
   * @param {string} deviceId
   * @param {string} token
   */
  keep(deviceId, token) {
    this.#vault.keepSetting(STORAGE_KEYS.edge, this.#fields.edgeUrl.value.trim());
    this.#vault.keepSetting(STORAGE_KEYS.device, deviceId);
    this.#tokenOrigin = this.edgeOrigin();
    this.#vault.save(token, this.#tokenOrigin, this.#fields.rememberToken.checked);
  }

  forgetToken() {
    this.#vault.forget();
    this.#fields.token.value = "";
    this.#fields.rememberToken.checked = false;
  }

  /**
   * A link's `edge` is used as is only when it is this page's origin; another origin is
   * shown in full and used only when the user confirms, and then no stored token goes there.
   * @param {string} linkEdge
   * @returns {boolean} false when the link is ignored
   */
  #acceptLinkedEdge(linkEdge) {
    const verdict = judgeLinkedEdge(linkEdge, this.#pageOrigin);
    if (verdict.use === "never") {
      this.#fields.connectError.textContent = "Ignored a link whose edge address is not an http(s) URL.";
      return false;
    }
    if (verdict.use === "ask") {
      const question =
        `This link asks the console to connect to another edge:\n\n${verdict.origin}\n\n` +
        "Only continue if you trust that address. Your saved token will not be sent there.";
      if (!this.#confirm(question)) {
        this.#fields.connectError.textContent = `Ignored a link to another edge (${verdict.origin}).`;
        return false;
      }
    }
    this.#fields.edgeUrl.value = linkEdge;
    this.edgeChanged();
    return true;
  }
}
