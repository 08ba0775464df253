import { readFileSync } from "node:fs";
import { get } from "node:http";
import { BENCH_API_TOKEN } from "../ipc.js";

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat (clock ticks of 1/100 s). */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/**
 * Cumulative counts of `tether_command_http_seconds` by answer class and bucket bound (s); the
 * commands' queueing time (`tether_command_queue_seconds`) under "queue", and the count of
 * `tether_commands_queue_refused_total` as one bucket under "queue_refused", and each reason of
 * `tether_commands_shed_total` likewise under "shed_<reason>".
 */
export type BrokerHistogram = Map<string, Array<{ le: number; count: number }>>;

const BUCKET = /^tether_command_(http|queue)_seconds_bucket\{(.*)\} (\d+)/;
const QUEUE_REFUSED = /^tether_commands_queue_refused_total (\d+)/;
const SHED = /^tether_commands_shed_total\{reason="([a-z_]+)"\} (\d+)/;

/** The broker's own time per command request (histogram), scraped from its /metrics. */
export async function scrapeCommandSeconds(httpPort: number): Promise<BrokerHistogram> {
  const histogram: BrokerHistogram = new Map();
  for (const line of (await getMetrics(httpPort)).split("\n")) {
    const refused = QUEUE_REFUSED.exec(line);
    if (refused)
      histogram.set("queue_refused", [{ le: Number.POSITIVE_INFINITY, count: Number(refused[1]) }]);
    const shed = SHED.exec(line);
    if (shed) histogram.set(`shed_${shed[1]}`, [{ le: Number.POSITIVE_INFINITY, count: Number(shed[2]) }]);
    const match = BUCKET.exec(line);
    if (!match) continue;
    const [, kind, labels = "", count = "0"] = match;
    const answer = kind === "queue" ? "queue" : (/answer="([a-z]+)"/.exec(labels)?.[1] ?? "");
    const le = /le="([^"]+)"/.exec(labels)?.[1] ?? "";
    const buckets = histogram.get(answer) ?? [];
    buckets.push({ le: le === "+Inf" ? Number.POSITIVE_INFINITY : Number(le), count: Number(count) });
    histogram.set(answer, buckets);
  }
  return histogram;
}

/**
 * The p99 bucket bound (ms) of one answer class between two scrapes: the broker's own time,
 * listener to response end, of 99 % of them was at most this. null when there were none.
 */
export function p99Between(
  before: BrokerHistogram,
  after: BrokerHistogram,
  answer: string,
  quantile = 0.99,
): number | null {
  const deltas = countsBetween(before, after, answer);
  const total = deltas.at(-1)?.count ?? 0;
  if (total === 0) return null;
  const bucket = deltas.find((b) => b.count >= quantile * total);
  return bucket ? bucket.le * 1000 : null;
}

/** How many were counted between two scrapes (a histogram's total, or a counter). */
export function countBetween(before: BrokerHistogram, after: BrokerHistogram, answer: string): number {
  return countsBetween(before, after, answer).at(-1)?.count ?? 0;
}

function countsBetween(before: BrokerHistogram, after: BrokerHistogram, answer: string) {
  const now = after.get(answer) ?? [];
  const then = new Map((before.get(answer) ?? []).map((b) => [b.le, b.count]));
  return now.map((b) => ({ le: b.le, count: b.count - (then.get(b.le) ?? 0) }));
}

/**
 * GET /metrics on a connection of its own, closed after the answer. Not `fetch`: its pooled
 * connection sat idle for a whole rate, the idle longest of the edge's class (it carries the
 * token, as the generator's 2,048 do), and the broker closes that one first beyond
 * HTTP_MAX_IDLE_CONNECTIONS (1,000) as the generator's pool re-fills before each rate; once that
 * close met the scrape reusing the connection ("fetch failed"), and the whole leg was lost.
 */
function getMetrics(httpPort: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = get(
      {
        host: "127.0.0.1",
        port: httpPort,
        path: "/metrics",
        agent: false,
        headers: { authorization: `Bearer ${BENCH_API_TOKEN}`, connection: "close" },
      },
      (response) => {
        let text = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => {
          text += chunk;
        });
        response.on("end", () =>
          response.statusCode === 200
            ? resolve(text)
            : reject(new Error(`/metrics answered ${response.statusCode}`)),
        );
        response.on("error", reject);
      },
    );
    request.on("error", reject);
    // A broker that stops answering fails the scrape, not the whole bench, silently.
    request.setTimeout(10_000, () => request.destroy(new Error("/metrics: no answer within 10 s")));
  });
}
