// Hand-written types for console-settings.js (kept in step with its JSDoc; the
// root tsconfig has no allowJs, so the tests see these).

export const STORAGE_KEYS: Readonly<{
  edge: string;
  device: string;
  token: string;
  tokenOrigin: string;
}>;

/** The origin of an http(s) URL, or null for anything else. */
export function httpOrigin(text: string): string | null;

/** What to do with the `edge` of a link's hash: use it, ask the user first, or ignore it. */
export function judgeLinkedEdge(
  linkEdge: string,
  pageOrigin: string,
): { use: "as-is"; origin: string } | { use: "ask"; origin: string } | { use: "never" };

export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** The client token, kept per tab (or, when asked, per device) with the edge origin it belongs to. */
export class TokenVault {
  constructor(session: () => StorageLike, local: () => StorageLike);
  readonly remembered: boolean;
  load(edgeOrigin: string): string;
  save(token: string, edgeOrigin: string, remember: boolean): void;
  forget(): void;
  setting(key: string): string;
  keepSetting(key: string, value: string): void;
}

/** Why this token cannot open `deviceId` (from its claims, display only), or null. */
export function tokenRefusal(token: string, deviceId: string, nowMs: number): string | null;
