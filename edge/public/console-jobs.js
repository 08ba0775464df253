// @ts-check
/**
 * The console's Jobs view (issue 16): start a fleet job for some routers (the simulated
 * ones under `npm start`), watch its progress bar and counts move over
 * `GET /v1/jobs/{id}/ws`, cancel it. Starting and cancelling need the Rails token: it is
 * kept in this page's memory only (never stored), as it commands the whole fleet.
 */

const OUTCOMES = ["succeeded", "failed", "timed_out", "offline", "queued", "pending"];
const DEVICE_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * @template {HTMLElement} T
 * @param {string} id
 * @param {new () => T} type
 * @returns {T}
 */
function byId(id, type) {
  const element = document.getElementById(id);
  if (!(element instanceof type)) throw new Error(`console: #${id} is missing`);
  return element;
}

/** @param {unknown} value @returns {value is Record<string, unknown>} */
const isRecord = (value) => typeof value === "object" && value !== null && !Array.isArray(value);

/** @param {unknown} body */
function errorText(body) {
  if (isRecord(body) && isRecord(body.error)) return `${body.error.code}: ${body.error.message}`;
  return "the edge answered without a usable body";
}

/** @param {string} text @returns {string[]} */
export function parseTargets(text) {
  return [...new Set(text.split(/[\s,]+/).filter((id) => id !== ""))];
}

/**
 * Wires the Jobs card.
 * @param {() => string} edgeOrigin the edge the console talks to
 */
export function setupJobs(edgeOrigin) {
  const form = byId("job-form", HTMLFormElement);
  const token = byId("job-token", HTMLInputElement);
  const targets = byId("job-targets", HTMLTextAreaElement);
  const command = byId("job-command", HTMLInputElement);
  const rate = byId("job-rate", HTMLInputElement);
  const abort = byId("job-abort", HTMLInputElement);
  const start = byId("job-start", HTMLButtonElement);
  const cancel = byId("job-cancel", HTMLButtonElement);
  const error = byId("job-error", HTMLElement);
  const status = byId("job-status", HTMLElement);
  const progress = byId("job-progress", HTMLProgressElement);
  const counts = byId("job-counts", HTMLElement);
  /** @type {{ id: string, socket: WebSocket | null } | null} */
  let current = null;

  /** @param {unknown} job */
  const show = (job) => {
    if (!isRecord(job) || typeof job.status !== "string" || !isRecord(job.counts)) return;
    status.textContent = job.status;
    status.dataset.status = job.status;
    progress.value = typeof job.percent === "number" ? job.percent : 0;
    const jobCounts = job.counts;
    counts.textContent = OUTCOMES.map((outcome) => `${outcome} ${Number(jobCounts[outcome] ?? 0)}`).join(
      " · ",
    );
    const running = job.status === "running";
    cancel.disabled = !running;
    start.disabled = running;
    if (!running) current?.socket?.close(1000, "job ended");
  };

  /** @param {string} path @param {RequestInit} init */
  const rails = async (path, init = {}) => {
    const response = await fetch(`${edgeOrigin()}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${token.value.trim()}`, "content-type": "application/json" },
    });
    /** @type {unknown} */
    const body = await response.json().catch(() => null);
    return { status: response.status, body };
  };

  /** @param {string} id */
  const watch = (id) => {
    const url = `${edgeOrigin().replace(/^http/, "ws")}/v1/jobs/${id}/ws`;
    const socket = new WebSocket(url, ["tether", token.value.trim()]);
    socket.addEventListener("message", (event) => {
      try {
        /** @type {unknown} */
        const frame = JSON.parse(String(event.data));
        if (isRecord(frame) && frame.type === "job" && frame.id === current?.id) show(frame);
      } catch {
        // Not JSON: nothing to show.
      }
    });
    return socket;
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const ids = parseTargets(targets.value);
    const bad = ids.find((id) => !DEVICE_ID.test(id));
    if (ids.length === 0 || bad !== undefined) {
      error.textContent = bad ? `not a device id: ${bad}` : "name at least one router";
      return;
    }
    const body = {
      command: { name: command.value.trim() },
      targets: ids,
      ratePerSecond: Number(rate.value),
      abort: { failedPercent: Number(abort.value), minExecuted: 1 },
    };
    start.disabled = true;
    const answer = await rails("/v1/jobs", { method: "POST", body: JSON.stringify(body) }).catch((cause) => ({
      status: 0,
      body: { error: { code: "unreachable", message: String(cause) } },
    }));
    if (answer.status !== 201 || !isRecord(answer.body) || typeof answer.body.id !== "string") {
      start.disabled = false;
      error.textContent = errorText(answer.body);
      return;
    }
    current?.socket?.close(1000, "another job");
    current = { id: answer.body.id, socket: null };
    status.title = answer.body.id;
    show(answer.body);
    current.socket = watch(answer.body.id);
  });

  cancel.addEventListener("click", async () => {
    if (!current) return;
    const answer = await rails(`/v1/jobs/${current.id}/cancel`, { method: "POST" });
    if (answer.status === 200) show(answer.body);
    else error.textContent = errorText(answer.body);
  });
}
