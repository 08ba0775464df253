import { readFileSync } from "node:fs";
import type { Setting } from "./settings.js";

/** A secret read from the command line or the environment, and how. */
export interface SecretSource {
  value: string | undefined;
  /** Set when the value came from a flag: it is visible in `ps` and shell history. */
  warning?: string;
  /** Set when the source is unusable (both a value and a file, or an unreadable file). */
  problem?: string;
}

/** A file's content as a secret: one trailing newline (as `echo` and editors leave) removed. */
function readSecretFile(path: string): string {
  return readFileSync(path, "utf8").replace(/\r?\n$/, "");
}

function fromFile(path: string, name: string): SecretSource {
  try {
    const value = readSecretFile(path);
    if (value.length === 0) return { value: undefined, problem: `${name}: "${path}" is empty` };
    return { value };
  } catch (error) {
    const reason = error instanceof Error && "code" in error ? String(error.code) : "unreadable";
    return { value: undefined, problem: `${name}: cannot read "${path}" (${reason})` };
  }
}

/**
 * A `fromFile` secret: `--flag`, `--flag-file`, `ENV`, `ENV_FILE`, in that order
 * (the command line wins, as for every setting). A value and a file at the same
 * level is a mistake worth stopping for; a value as a flag gets a warning.
 */
export function secretSource(
  setting: Setting,
  flags: Record<string, unknown>,
  env: Record<string, string | undefined>,
): SecretSource {
  const flag = flags[setting.flag];
  const flagFile = flags[`${setting.flag}-file`];
  if (typeof flag === "string" && typeof flagFile === "string") {
    return { value: undefined, problem: `give --${setting.flag} or --${setting.flag}-file, not both` };
  }
  if (typeof flag === "string") {
    return {
      value: flag,
      warning:
        `--${setting.flag} puts a secret on the command line, where other users see it (ps, shell history); ` +
        `use ${setting.env}, ${setting.env}_FILE or --${setting.flag}-file`,
    };
  }
  if (typeof flagFile === "string") return fromFile(flagFile, `--${setting.flag}-file`);
  const value = env[setting.env];
  const file = env[`${setting.env}_FILE`];
  const hasValue = value !== undefined && value !== "";
  const hasFile = file !== undefined && file !== "";
  if (hasValue && hasFile) {
    return { value: undefined, problem: `set ${setting.env} or ${setting.env}_FILE, not both` };
  }
  if (hasFile) return fromFile(file, `${setting.env}_FILE`);
  return { value: hasValue ? value : undefined };
}
