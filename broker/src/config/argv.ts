/**
 * Command-line parsing that says what is wrong in the program's own words, for the
 * broker's CLI and `npm start` (issue 13: Node's parseArgs answers `--mqtt-port -5`
 * with "argument is ambiguous … use '--mqtt-port=-XYZ'").
 */

/**
 * Joins a value flag with a next argument that starts with "-" but is not a flag itself
 * (`--mqtt-port -5` → `--mqtt-port=-5`), so it reaches validation as that flag's value
 * and is refused for what it is — not a port — instead of as a parsing puzzle.
 *
 * @example
 *   attachDashValues(["--mqtt-port", "-5"], new Set(["mqtt-port"])); // ["--mqtt-port=-5"]
 */
export function attachDashValues(argv: string[], valueFlags: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    const next = argv[i + 1];
    const name = arg.startsWith("--") && !arg.includes("=") ? arg.slice(2) : undefined;
    if (name && valueFlags.has(name) && next !== undefined && /^-[^-]/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

/** parseArgs's error as one sentence naming the flag, or undefined when it is not one of parseArgs's. */
export function describeArgvError(error: unknown): string | undefined {
  if (!(error instanceof Error) || !("code" in error)) return undefined;
  const quoted = /'([^']+)'/.exec(error.message)?.[1] ?? "";
  const flag = quoted.split(" ")[0] ?? quoted;
  switch (error.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown option ${flag}`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      return error.message.includes("does not take an argument")
        ? `${flag} takes no value`
        : `${flag} needs a value`;
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return `unexpected argument "${flag}"`;
    default:
      return undefined;
  }
}
