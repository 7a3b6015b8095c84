// The edge-agent dashboard: polls the local API once a second and renders it. Plain DOM on purpose:
// every string from the agent goes in through textContent or an attribute, never through the HTML parser, so a
// point name or an alarm message cannot inject markup. Nothing is loaded from anywhere else.

const POLL_MS = 1000;
/** Samples kept per point for its sparkline (about two minutes at one poll a second). */
const SPARK_POINTS = 120;
const TOKEN_KEY = "edge-agent.api-token";

const $ = (id) => document.getElementById(id);

/** Creates an element; `props` are properties (className, textContent...) or data-* attributes. */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k.startsWith("data-")) node.setAttribute(k, String(v));
    else node[k] = v;
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

// ---- the token: asked once, kept for this browser tab only -------------------------------------

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

function showTokenState() {
  $("token-state").textContent = token() ? "token set: changes allowed" : "no token: read-only";
}

function showMessage(text, kind = "error") {
  const m = $("message");
  m.textContent = text;
  m.className = kind === "error" ? "message" : "message info";
  m.hidden = !text;
}

$("token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const value = $("token").value.trim();
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
  $("token").value = "";
  showMessage("");
  showTokenState();
});

// ---- talking to the API ------------------------------------------------------------------------

async function getJson(path) {
  const res = await fetch(path, { cache: "no-store" });
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return res.json();
}

/** A change: needs the token; a 401 forgets it and says where to find the right one. */
async function change(path) {
  const t = token();
  if (!t) {
    showMessage("This needs the API token: paste it above (it is in the agent's data folder, file api-token).");
    $("token").focus();
    return null;
  }
  let res;
  try {
    res = await fetch(path, { method: "POST", headers: { authorization: `Bearer ${t}` } });
  } catch {
    showMessage("The agent cannot be reached: the change was not made.");
    return null;
  }
  const body = await res.json().catch(() => null);
  if (res.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    showTokenState();
    showMessage("The agent refused the token (401 Unauthorized): paste the token from the agent's data folder, file api-token.");
    $("token").focus();
    return null;
  }
  if (!res.ok) {
    showMessage(`Refused (${res.status}): ${body?.error?.message ?? "unknown error"}`);
    return null;
  }
  showMessage("");
  return body;
}

// ---- rendering helpers -------------------------------------------------------------------------

/**
 * Keeps one row per item, keyed by id: rows are updated in place, so a button does not vanish under
 * the user's pointer when the next poll arrives.
 */
function syncRows(tbody, items, keyOf, create, update) {
  const existing = new Map([...tbody.children].map((row) => [row.dataset.key, row]));
  const rows = items.map((item) => {
    const key = String(keyOf(item));
    let row = existing.get(key);
    if (!row) {
      row = create(item);
      row.dataset.key = key;
    }
    update(row, item);
    return row;
  });
  tbody.replaceChildren(...rows);
}

function setText(node, text, className) {
  const s = String(text);
  if (node.textContent !== s) node.textContent = s;
  if (className !== undefined && node.className !== className) node.className = className;
}

function formatValue(v) {
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toFixed(Math.abs(v) >= 100 ? 1 : 2);
  if (typeof v === "boolean") return v ? "true" : "false";
  return v === null || v === undefined ? "–" : String(v);
}

function formatAge(ts) {
  if (!ts) return "–";
  const s = Math.max(0, Math.round((Date.now() - ts) / 1000));
  return s < 60 ? `${s} s` : s < 3600 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`;
}

const time = (ts) => (ts ? new Date(ts).toLocaleTimeString() : "–");

/** Facts as a definition list (label, value) pairs. */
function renderFacts(dl, facts) {
  dl.replaceChildren(...facts.flatMap(([k, v, cls]) => [el("dt", { textContent: k }), el("dd", { textContent: String(v), className: cls ?? "" })]));
}

// ---- points with sparklines --------------------------------------------------------------------

/** Ring buffers of recent numeric values, per point; in this page only (gone on reload). */
const series = new Map();

function numeric(v) {
  if (typeof v === "number") return v;
  if (typeof v === "boolean") return v ? 1 : 0;
  if (typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v))) return Number(v);
  return null;
}

function record(point) {
  const s = point.latest;
  if (!s) return;
  let buf = series.get(point.id);
  if (!buf) series.set(point.id, (buf = { lastTs: 0, values: [] }));
  if (s.ts === buf.lastTs) return; // same sample as the last poll: not a new reading
  buf.lastTs = s.ts;
  const n = numeric(s.value);
  if (n === null) return;
  buf.values.push(n);
  if (buf.values.length > SPARK_POINTS) buf.values.shift();
}

const SVG = "http://www.w3.org/2000/svg";

function sparkline() {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("viewBox", "0 0 120 24");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.append(document.createElementNS(SVG, "polyline"));
  return svg;
}

function drawSpark(svg, values) {
  const line = svg.firstChild;
  if (values.length < 2) return line.setAttribute("points", "");
  const min = Math.min(...values);
  const span = Math.max(...values) - min || 1;
  // Spread over the full width whatever the count, so a freshly opened page already shows a trend.
  const step = 120 / (values.length - 1);
  line.setAttribute("points", values.map((v, i) => `${(i * step).toFixed(1)},${(22 - ((v - min) / span) * 20).toFixed(1)}`).join(" "));
}

function renderPoints(points) {
  for (const p of points) record(p);
  syncRows(
    $("points"),
    points,
    (p) => p.id,
    (p) => {
      const value = el("span", { className: "value" });
      const unit = el("span", { className: "unit" });
      return el(
        "tr",
        { "data-point": p.id },
        el("td", {}, el("div", { textContent: p.id }), el("div", { className: "muted", textContent: p.name ?? "" })),
        el("td", { textContent: p.device }),
        el("td", { className: "num" }, value, unit),
        el("td", { className: "quality" }),
        el("td", {}, sparkline()),
        el("td", { className: "age muted" }),
      );
    },
    (row, p) => {
      const [, , valueCell, quality, trend, age] = row.children;
      setText(valueCell.querySelector(".value"), formatValue(p.latest?.value));
      setText(valueCell.querySelector(".unit"), p.unit ?? "");
      setText(quality, p.latest?.quality ?? "no data", `quality ${p.latest?.quality ?? "uncertain"}`);
      drawSpark(trend.firstChild, series.get(p.id)?.values ?? []);
      setText(age, formatAge(p.latest?.ts));
    },
  );
}

// ---- devices, alarms, rules --------------------------------------------------------------------

function renderDevices(devices) {
  syncRows(
    $("devices"),
    devices,
    (d) => d.id,
    () => el("tr", {}, el("td"), el("td"), el("td", { className: "muted" }), el("td"), el("td", { className: "msg muted" })),
    (row, d) => {
      const [id, protocol, endpoint, state, error] = row.children;
      const s = d.status;
      setText(id, d.name ? `${d.id} (${d.name})` : d.id);
      setText(protocol, d.protocol);
      setText(endpoint, s?.endpoint ?? "");
      const word = s ? (s.connected ? "connected" : s.state ?? "disconnected") : "not started";
      setText(state, word, s?.connected ? "connected" : s?.state === "connecting" ? "connecting" : "disconnected");
      setText(error, s?.lastError ?? "");
    },
  );
}

const ACKABLE = new Set(["active", "cleared-unacknowledged"]);

function renderAlarms(alarms) {
  $("alarms-empty").hidden = alarms.length > 0;
  setText($("alarm-count"), alarms.filter((a) => ACKABLE.has(a.state)).length || "");
  syncRows(
    $("alarms"),
    alarms,
    (a) => a.id,
    (a) => {
      const button = el("button", { type: "button", textContent: "Acknowledge", className: "ack" });
      button.addEventListener("click", async () => {
        button.disabled = true;
        if (await change(`/alarms/${encodeURIComponent(a.id)}/ack`)) await refresh();
        button.disabled = false;
      });
      return el("tr", { "data-alarm-id": a.id }, el("td"), el("td"), el("td"), el("td", { className: "msg" }), el("td", { className: "alarm-state" }), el("td"), el("td", {}, button));
    },
    (row, a) => {
      const [id, severity, rule, message, state, raised, action] = row.children;
      setText(id, a.id);
      setText(severity, a.severity, `sev-${a.severity}`);
      setText(rule, a.rule);
      setText(message, a.message);
      setText(state, a.ackBy && a.state !== "active" ? `${a.state} (${a.ackBy})` : a.state, `alarm-state state-${a.state}`);
      setText(raised, time(a.raisedAt));
      action.firstChild.hidden = !ACKABLE.has(a.state);
    },
  );
}

function renderRules(rules) {
  $("rules-empty").hidden = rules.length > 0;
  syncRows(
    $("rules"),
    rules,
    (r) => r.id,
    (r) => {
      const button = el("button", { type: "button", className: "toggle" });
      button.addEventListener("click", async () => {
        button.disabled = true;
        const verb = button.dataset.enabled === "true" ? "disable" : "enable";
        if (await change(`/rules/${encodeURIComponent(r.id)}/${verb}`)) await refresh();
        button.disabled = false;
      });
      return el("tr", { "data-rule-id": r.id }, el("td", {}, el("div"), el("div", { className: "muted" })), el("td", { className: "muted" }), el("td"), el("td"), el("td", {}, button));
    },
    (row, r) => {
      const [id, source, state, condition, action] = row.children;
      setText(id.firstChild, r.id);
      setText(id.lastChild, r.description ?? "");
      setText(source, r.source);
      setText(state, r.state, r.state === "active" ? "state-active" : "");
      setText(condition, r.lastError ? `error: ${r.lastError}` : r.condition === null ? "–" : String(r.condition));
      const button = action.firstChild;
      button.dataset.enabled = String(r.enabled);
      setText(button, r.enabled ? "Disable" : "Enable");
    },
  );
}

// ---- outbox and OTA ----------------------------------------------------------------------------

/**
 * The largest pending count seen while an outage's backlog drains: progress is how much of it has gone.
 * Outside a backlog the few records in flight are normal, and the bar stays full.
 */
let backlogPeak = 0;

function renderOutbox(o) {
  const drain = o.drain;
  const pending = o.pending ?? 0;
  backlogPeak = drain?.backlog ? Math.max(backlogPeak, pending) : 0;
  const dropped = o.dropped ?? {};
  renderFacts($("outbox"), [
    ["Uplink", o.uplinkConnected ? "connected" : "disconnected", o.uplinkConnected ? "connected" : "disconnected"],
    ["Pending", pending],
    ["Sent (since start)", o.sent ?? 0],
    ["Dropped", `${dropped.total ?? 0} (rows ${dropped.rows ?? 0}, age ${dropped.age ?? 0}, bytes ${dropped.bytes ?? 0})`, dropped.total ? "bad" : ""],
    ["Drain rate", drain ? `${drain.ratePerS.toFixed(1)} records/s` : "–"],
    ["Empty in", drain && drain.etaS !== null ? `${Math.ceil(drain.etaS)} s` : "–"],
    ["Backlog", drain?.backlog ? "sending records from before the reconnect" : "none"],
    ["Disk", o.store?.fault ? `refusing writes since ${time(o.store.fault.since)}: ${o.store.fault.reason}` : "ok", o.store?.fault ? "bad" : "good"],
  ]);
  $("drain").value = backlogPeak > 0 ? 1 - pending / backlogPeak : 1;
}

function renderOta(ota) {
  const facts = [["State", ota.state]];
  if (ota.release) facts.push(["Release", `${ota.release.name ?? ""} ${ota.release.version ?? ""}`.trim()]);
  if (ota.progress) facts.push(["Download", `${Math.floor((100 * ota.progress.bytes) / (ota.progress.total || 1))} % of ${ota.progress.total} bytes`]);
  if (ota.installed) for (const [kind, version] of Object.entries(ota.installed)) facts.push([`Installed ${kind}`, version ?? "–"]);
  if (ota.error) facts.push(["Error", `${ota.error.code}: ${ota.error.message}`, "bad"]);
  if (ota.note) facts.push(["", ota.note]);
  renderFacts($("ota"), facts);
}

// ---- the poll loop -----------------------------------------------------------------------------

let lastSeen = 0;

const sources = [
  ["/points", renderPoints],
  ["/devices", renderDevices],
  ["/alarms", renderAlarms],
  ["/rules", renderRules],
  ["/outbox", renderOutbox],
  ["/ota", renderOta],
  ["/status", (s) => setText($("agent-id"), `${s.deviceId} · v${s.version} · up ${formatAge(Date.now() - s.uptimeS * 1000)}`)],
];

async function refresh() {
  const results = await Promise.allSettled(sources.map(([path]) => getJson(path)));
  results.forEach((r, i) => {
    if (r.status === "fulfilled") sources[i][1](r.value);
  });
  const ok = results.some((r) => r.status === "fulfilled");
  if (ok) lastSeen = Date.now();
  const link = $("link");
  setText(link, ok ? "live" : `agent unreachable${lastSeen ? ` since ${time(lastSeen)}: showing the last values` : ""}`, ok ? "link up" : "link down");
}

async function loop() {
  // The next poll starts after this one ends: a slow agent is never flooded.
  await refresh().catch(() => undefined);
  setTimeout(loop, POLL_MS);
}

showTokenState();
if (!token()) showMessage("Read-only until you paste the API token above (agent data folder, file api-token).", "info");
loop();
