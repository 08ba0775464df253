import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describeStep, KNEE_P99_MS, KNEE_RAMP } from "./knee.js";
import type { OverloadResult, RateRun } from "./leg.js";

const whole = (n: number) => Math.round(n).toLocaleString("en-US");
const ms = (n: number | null) => (n === null ? "–" : n.toFixed(1));
const share = (part: number, total: number) => (total === 0 ? "–" : `${Math.round((100 * part) / total)} %`);

function table(runs: RateRun[]): string[] {
  return [
    "| offered | goodput (ok/s) | ok / sent | shed 503 | 429 | failed | p50 ok (ms) | p99 ok (ms) | p99 ok from 1 s on (ms) | slowest refusal (ms) | generator late p99 (ms) | recovered after |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...runs.map(
      (r) =>
        `| ${r.factor}× = ${whole(r.offered)}/s | ${whole(r.goodput)} | ${whole(r.ok)} / ${whole(r.sent)} | ${share(r.shed, r.sent)} | ${share(r.limited, r.sent)} | ${share(r.failed, r.sent)} | ${ms(r.p50)} | ${ms(r.p99)} | ${ms(r.p99Steady ?? null)} | ${whole(r.maxRefusalMs)} | ${ms(r.sendLateP99)} | ${r.recoveryMs === null ? "not within 4 s" : `${whole(r.recoveryMs)} ms`} |`,
    ),
  ];
}

/** Where each rate's time went (issue 17): the generator's share, the broker's own, and the CPU each process got. */
function whereTheTimeWent(runs: RateRun[]): string[] {
  const bound = (n: number | null) => (n === null ? "–" : `≤ ${n}`);
  return [
    "| offered | generator: pool wait p99 (ms) | connections opened in the burst | broker's own time p99 ok / refused (ms) | queueing time p50 / p99 (ms) · 429s for it | 503s by rule: latency / lag / in flight | slowest 1 %: late + pool wait + rest (ms) | CPU (cores) broker / routers / generator |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
    ...runs.map(
      (r) =>
        `| ${r.factor}× | ${ms(r.poolWaitP99)} | ${whole(r.connectionsOpened)} | ${bound(r.brokerOkP99)} / ${bound(r.brokerRefusedP99)} | ${bound(r.queueP50)} / ${bound(r.queueP99)} · ${whole(r.queueRefused)} | ${r.shedBy ? `${whole(r.shedBy.latency)} / ${whole(r.shedBy.lag)} / ${whole(r.shedBy.inFlight)}` : "–"} | ${whole(r.slowest.late)} + ${whole(r.slowest.waited)} + ${whole(r.slowest.rest)} | ${r.cpu.broker.toFixed(2)} / ${r.cpu.routers.toFixed(2)} / ${r.cpu.generator.toFixed(2)} |`,
    ),
  ];
}

/** Goodput against offered load, one line per configuration, as a hand-written SVG. */
function chart(result: OverloadResult): string {
  const W = 640;
  const H = 360;
  const M = { left: 70, right: 20, top: 40, bottom: 50 };
  const runs = result.configs.flatMap((c) => c.runs);
  const xMax = Math.max(1, ...runs.map((r) => r.offered));
  const yMax = Math.max(1, ...runs.map((r) => r.goodput), ...runs.map((r) => r.offered)) * 1.1;
  const x = (v: number) => M.left + (v / xMax) * (W - M.left - M.right);
  const y = (v: number) => H - M.bottom - (v / yMax) * (H - M.top - M.bottom);
  const colors = ["#1f77b4", "#d62728"];
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, sans-serif" font-size="12" role="img">`,
    "<title>Commands served per second against commands offered per second</title>",
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${M.left}" y="22" font-size="14" font-weight="600">Goodput under open-loop overload (knee ${whole(result.knee)}/s)</text>`,
    `<line x1="${M.left}" y1="${y(0)}" x2="${x(xMax)}" y2="${y(0)}" stroke="#333"/>`,
    `<line x1="${M.left}" y1="${y(0)}" x2="${M.left}" y2="${M.top}" stroke="#333"/>`,
    `<line x1="${x(0)}" y1="${y(0)}" x2="${x(Math.min(xMax, yMax))}" y2="${y(Math.min(xMax, yMax))}" stroke="#bbb" stroke-dasharray="4 4"/>`,
    `<text x="${x(xMax) - 4}" y="${H - 14}" text-anchor="end">offered commands/s</text>`,
    `<text x="14" y="${M.top + 10}" transform="rotate(-90 14 ${M.top + 10})" text-anchor="end">ok commands/s</text>`,
  ];
  const step =
    10 ** Math.floor(Math.log10(yMax / 4)) *
    ([1, 2, 5, 10].find((f) => f * 10 ** Math.floor(Math.log10(yMax / 4)) >= yMax / 5) ?? 1);
  for (let tick = 0; tick <= yMax; tick += step) {
    parts.push(
      `<line x1="${M.left - 4}" y1="${y(tick).toFixed(1)}" x2="${x(xMax)}" y2="${y(tick).toFixed(1)}" stroke="#eee"/>`,
    );
    parts.push(
      `<text x="${M.left - 8}" y="${(y(tick) + 4).toFixed(1)}" text-anchor="end">${whole(tick)}</text>`,
    );
  }
  result.configs.forEach((config, i) => {
    const color = colors[i % colors.length];
    const points = config.runs.map((r) => `${x(r.offered).toFixed(1)},${y(r.goodput).toFixed(1)}`).join(" ");
    parts.push(`<polyline points="${points}" fill="none" stroke="${color}" stroke-width="2"/>`);
    for (const r of config.runs) {
      parts.push(
        `<circle cx="${x(r.offered).toFixed(1)}" cy="${y(r.goodput).toFixed(1)}" r="3" fill="${color}"/>`,
      );
      parts.push(
        `<text x="${x(r.offered).toFixed(1)}" y="${H - M.bottom + 16}" text-anchor="middle">${whole(r.offered)}</text>`,
      );
    }
    parts.push(`<text x="${M.left + 10}" y="${M.top + 16 + 16 * i}" fill="${color}">${config.label}</text>`);
  });
  parts.push("</svg>");
  return parts.join("\n");
}

/** How the knee was had: given, or the ramp that measured it. */
function kneeLine(result: OverloadResult): string {
  if (result.kneeSteps === null) return `The knee, ${whole(result.knee)}/s, was given (\`--knee\`).`;
  const steps = result.kneeSteps.map(describeStep).join("; ");
  const found = result.knee > 0 ? `**${whole(result.knee)}/s**` : "not found";
  return `The knee was measured first, on the first configuration (from ${KNEE_RAMP.from}/s up by ×${KNEE_RAMP.factor}, ${KNEE_RAMP.seconds} s a step, until a step had a non-200 or p99 > ${KNEE_P99_MS} ms): ${steps}. Knee: ${found}.`;
}

/** The "Overload" section of docs/BENCHMARKS.md; writes docs/overload.svg and overload.json when `writeSvg`. */
export function renderOverload(
  result: OverloadResult,
  command: string,
  machine: string,
  writeSvg: boolean,
): string {
  if (writeSvg) {
    writeFileSync(
      fileURLToPath(new URL("../../../docs/overload.svg", import.meta.url)),
      `${chart(result)}\n`,
    );
    writeFileSync(
      fileURLToPath(new URL("../../../docs/overload.json", import.meta.url)),
      `${JSON.stringify({ command, machine, ...result }, null, 2)}\n`,
    );
  }
  const o = result.options;
  const lines = [
    `Command: \`${command}\``,
    "",
    `Machine: ${machine}. Each configuration's broker alone in its own process (defaults but for what the`,
    `configuration says; \`HTTP_MAX_IDLE_CONNECTIONS\` 4,096, so that it keeps the generator's connections), ${o.devices} answering routers in another, the open-loop generator (a lean keep-alive`,
    "HTTP/1.1 client holding 2,048 connections, all open before each burst) in the bench's. The configurations alternate rate by rate. Each rate",
    `is held ${o.seconds} s (each command \`timeoutMs\` 5000; latency counted from the scheduled send, so a generator`,
    "that falls behind shows in it: see its own lateness), then 20 probes/s for 4 s time the recovery (probes a 200",
    "within 2× the first rate's p99). \"p99 ok from 1 s on\" leaves out the 200s sent in a burst's first second (its onset).",
    "A load average well above the core count means other processes took CPU.",
    kneeLine(result),
    '"No admission control" is the broker before issue 17: `MAX_COMMANDS_IN_FLIGHT`, `COMMAND_LATENCY_TOLERANCE`,',
    "`MAX_EVENT_LOOP_LAG_MS` and `COMMAND_QUEUE_TARGET_MS` off, only the fixed per-device pending bound (16) left.",
    "",
  ];
  for (const config of result.configs) {
    lines.push(`**${config.label}**`, "", ...table(config.runs), "");
    lines.push("Where the time went:", "", ...whereTheTimeWent(config.runs), "");
  }
  if (result.error) lines.push(`The leg failed: ${result.error}`, "");
  lines.push("![Goodput against offered load](overload.svg) — data: [overload.json](overload.json).");
  return lines.join("\n");
}
