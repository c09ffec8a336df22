// BuildFarm UI: hash-routed pages over the JSON API only; polls every 1.5 s so pages update without reload.
"use strict";
const main = document.getElementById("main");
const live = document.getElementById("live");
const POLL_MS = 1500;
let timer = null, route = null, logCursor = 0, logBuild = null;

const esc = s => String(s ?? "").replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const badge = s => `<span class="badge ${esc(s)}">${esc(s)}</span>`;
const ago = t => { if (!t) return "—"; const s = Math.max(0, (Date.now() - Date.parse(t)) / 1000);
  return s < 60 ? `${Math.round(s)} s ago` : s < 3600 ? `${Math.round(s / 60)} min ago` : s < 86400 ? `${(s / 3600).toFixed(1)} h ago` : `${(s / 86400).toFixed(1)} d ago`; };
const when = t => t ? `<time datetime="${esc(t)}" title="${esc(t)}">${ago(t)}</time>` : "—";
const bytes = n => n >= 1 << 30 ? (n / (1 << 30)).toFixed(1) + " GiB" : n >= 1 << 20 ? (n / (1 << 20)).toFixed(0) + " MiB" : n + " B";
const drvName = p => p.replace(/^.*\/[0-9a-z]{32}-/, "");
// "1.0.0+<40-hex commit>" shows as "1.0.0+abcdef1" (the full version in the tooltip), so the workers table fits 1280 px.
const version = v => `<span title="${esc(v)}">${esc(String(v ?? "").replace(/\+([0-9a-f]{7})[0-9a-f]{8,}$/, "+$1"))}</span>`;
// How a worker runs builders (its heartbeat): a worker without a sandbox is marked loudly, with the probe's reason.
const TRUSTED_FEATURE = "buildfarm-trusted";
const isolation = w => w.isolation === "sandboxed" ? `<div class="isolation muted" data-isolation="sandboxed" title="${esc(w.isolationReason)}">sandboxed</div>`
  : w.isolation === "unsandboxed" ? `<div class="isolation bad" data-isolation="unsandboxed"><strong>unsandboxed</strong>: ${esc(w.isolationReason)} · takes only trusted builds</div>`
  : w.isolation === "none" ? `<div class="isolation bad" data-isolation="none"><strong>no sandbox</strong>: ${esc(w.isolationReason)} · takes no builds</div>`
  : `<div class="isolation muted" data-isolation="unknown">sandbox unknown (older worker)</div>`;
const td = (label, html, cls) => `<td data-label="${esc(label)}"${cls ? ` class="${cls}"` : ""}>${html}</td>`;

async function api(path, options) {
  const r = await fetch(path, { credentials: "same-origin", headers: { "Accept": "application/json", "Content-Type": "application/json" }, ...options });
  // Signed out while a page polls (token changed, cookie gone): the login page takes the route to return to from the hash.
  if (r.status === 401) { location.href = "/login" + location.hash; throw new Error("not signed in"); }
  const body = r.headers.get("content-type")?.includes("json") ? await r.json() : await r.text();
  if (!r.ok) throw new Error(body?.error ?? `${r.status} ${path}`);
  return body;
}

function setLive(ok, msg) { live.textContent = msg; live.classList.toggle("err", !ok); }

// One refresh of a page at a time: on a slow dispatcher a poll can outlast the interval, and two overlapping
// refreshes of a build page would both append the same log chunks. A refresh rewrites tables, which drops the
// keyboard focus of whoever tabbed into them: it is put back on the same link or button of the new content.
async function tick() {
  const r = route;
  if (r.busy) return;
  r.busy = true;
  const focus = focusKey(document.activeElement);
  try { await r.refresh(); setLive(true, `live · updated ${new Date().toLocaleTimeString()}`); }
  catch (e) { setLive(false, `not updating: ${e.message}`); }
  finally {
    r.busy = false;
    const lost = !document.activeElement || document.activeElement === document.body;
    if (focus && lost && route === r) main.querySelector(focus)?.focus({ preventScroll: true });
  }
}

// What identifies a focused element of the page across a re-render: its id, else its tag with its link target,
// action and name, inside the row of the same data-* key (data-worker, data-graph, data-node…).
function focusKey(e) {
  if (!e || e === document.body || !main.contains(e)) return null;
  if (e.id) return `#${CSS.escape(e.id)}`;
  let key = e.tagName.toLowerCase();
  for (const a of ["href", "data-action", "name"])
    if (e.hasAttribute(a)) key += `[${a}="${CSS.escape(e.getAttribute(a))}"]`;
  const row = e.closest("tr");
  const id = row && [...row.attributes].find(a => a.name.startsWith("data-") && a.name !== "data-state");
  return id ? `tr[${id.name}="${CSS.escape(id.value)}"] ${key}` : key;
}

function go() {
  clearInterval(timer);
  // #/page/arg?key=value: the query pre-fills filters (e.g. #/builds?worker=w1 from the Workers page).
  const [path, query = ""] = (location.hash.replace(/^#/, "") || "/").split("?");
  const [, page, arg] = path.split("/");
  const pages = { "": overview, queues, workers, builds, build, graphs, graph };
  route = (pages[page] ?? overview)(decodeURIComponent(arg ?? ""), new URLSearchParams(query));
  document.querySelectorAll("nav a").forEach(a => a.toggleAttribute("aria-current", a.dataset.page === (navPage[page] ?? (page || "overview"))));
  document.querySelectorAll("nav a[aria-current]").forEach(a => a.setAttribute("aria-current", "page"));
  tick();
  timer = setInterval(tick, POLL_MS);
}

// Detail pages light up their list's nav link.
const navPage = { build: "builds", graph: "graphs" };

function overview() {
  main.innerHTML = `<h1>Overview</h1><div id="cards" class="cards"></div><h2>Alerts</h2><ul id="alerts" class="alerts"></ul>
    <h2 id="tp-title">Builds finished per minute, last hour</h2><figure id="throughput" class="chart" aria-labelledby="tp-title"></figure>
    <h2 id="bl-title">Queued and running, last hour</h2><figure id="backlog" class="chart" aria-labelledby="bl-title"></figure>
    <h2>Oldest waiting build</h2><div id="oldest"></div>`;
  return { async refresh() {
    const [counts, workers, alerts, oldest, throughput, backlog] = await Promise.all([
      Promise.all(["queued", "running", "succeeded", "failed"].map(s => api(`/api/builds/search?state=${s}&limit=1`).then(p => [s, p.total]))),
      api("/api/workers"), api("/api/alerts"), api("/api/builds/search?state=queued&limit=1&oldest=1"), api("/api/stats/throughput?minutes=60"),
      api("/api/stats/backlog?minutes=60")]);
    const online = workers.filter(w => w.online);
    const slots = online.reduce((n, w) => n + w.slots, 0);
    const used = counts.find(c => c[0] === "running")[1];
    document.getElementById("cards").innerHTML = counts.map(([s, n]) =>
      `<a class="card card-link" href="#/builds/${s}"><div class="n" data-count="${s}">${n}</div><div class="l">${s}</div></a>`).join("")
      + `<div class="card"><div class="n" data-count="slots">${used} / ${slots}</div><div class="l">slots used / online total</div></div>`
      + `<div class="card"><div class="n">${online.length} / ${workers.length}</div><div class="l">workers online / known</div></div>`;
    document.getElementById("alerts").innerHTML = alerts.length
      ? alerts.map(a => `<li class="${esc(a.severity)}" data-kind="${esc(a.kind)}"><strong>${esc(a.kind.replace(/-/g, " "))}</strong> · ${esc(a.message)}</li>`).join("")
      : `<li class="ok">No alerts.</li>`;
    document.getElementById("throughput").innerHTML = chart(throughput.points);
    document.getElementById("backlog").innerHTML = backlogChart(backlog.points);
    const b = oldest.items[0];
    document.getElementById("oldest").innerHTML = b ? `<a href="#/build/${b.id}">${esc(drvName(b.drvPath))}</a> · ${esc(b.system)} · submitted ${when(b.submittedAt)}` : `<span class="muted">Nothing is waiting.</span>`;
  } };
}

// Stacked bars (succeeded, failed, cancelled) per minute as inline SVG; one <title> per bar for the tooltip.
function chart(points) {
  const W = 720, H = 160, left = 34, bottom = 20, top = 8, n = points.length, bw = (W - left) / n;
  const total = p => p.succeeded + p.failed + p.cancelled;
  const max = Math.max(1, ...points.map(total)), sum = points.reduce((a, p) => a + total(p), 0);
  const y = v => (H - bottom) - v / max * (H - bottom - top);
  const bars = points.map((p, i) => {
    let base = 0; const x = left + i * bw;
    const segs = [["succeeded", p.succeeded], ["failed", p.failed], ["cancelled", p.cancelled]].filter(([, v]) => v > 0).map(([k, v]) => {
      const r = `<rect class="${k}" x="${x + 1}" y="${y(base + v)}" width="${Math.max(1, bw - 2)}" height="${y(base) - y(base + v)}"></rect>`; base += v; return r; }).join("");
    const t = new Date(p.at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    return `<g data-minute="${esc(p.at)}" data-total="${total(p)}"><title>${t}: ${p.succeeded} succeeded, ${p.failed} failed, ${p.cancelled} cancelled</title>`
      + `<rect class="hit" x="${x}" y="${top}" width="${bw}" height="${H - bottom - top}"></rect>${segs}</g>`;
  }).join("");
  return `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${sum} builds finished in the last ${n} minutes, at most ${max} in one minute" preserveAspectRatio="none">
    <line class="axis" x1="${left}" y1="${H - bottom}" x2="${W}" y2="${H - bottom}"></line>
    <text x="${left - 4}" y="${top + 10}" text-anchor="end">${max}</text><text x="${left - 4}" y="${H - bottom}" text-anchor="end">0</text>
    <text x="${left}" y="${H - 4}">−${n} min</text><text x="${W}" y="${H - 4}" text-anchor="end">now</text>${bars}</svg>
    <figcaption class="muted"><span class="key succeeded"></span> succeeded <span class="key failed"></span> failed <span class="key cancelled"></span> cancelled · <span data-sum>${sum}</span> in the last hour</figcaption>`;
}

// Queued and running at the end of each minute as two step lines; one <title> per minute for the tooltip.
function backlogChart(points) {
  const W = 720, H = 160, left = 34, bottom = 20, top = 8, n = points.length, bw = (W - left) / Math.max(1, n);
  const max = Math.max(1, ...points.map(p => Math.max(p.queued, p.running)));
  const y = v => (H - bottom) - v / max * (H - bottom - top);
  const line = k => points.map((p, i) => `${left + i * bw},${y(p[k])} ${left + (i + 1) * bw},${y(p[k])}`).join(" ");
  const now = points[n - 1] ?? { queued: 0, running: 0 };
  const minutes = points.map((p, i) => {
    const t = new Date(p.at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    return `<g data-minute="${esc(p.at)}" data-queued="${p.queued}" data-running="${p.running}"><title>${t}: ${p.queued} queued, ${p.running} running</title>`
      + `<rect class="hit" x="${left + i * bw}" y="${top}" width="${bw}" height="${H - bottom - top}"></rect></g>`;
  }).join("");
  return `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="Queued and running builds over the last ${n} minutes: now ${now.queued} queued and ${now.running} running, at most ${max}" preserveAspectRatio="none">
    <line class="axis" x1="${left}" y1="${H - bottom}" x2="${W}" y2="${H - bottom}"></line>
    <text x="${left - 4}" y="${top + 10}" text-anchor="end">${max}</text><text x="${left - 4}" y="${H - bottom}" text-anchor="end">0</text>
    <text x="${left}" y="${H - 4}">−${n} min</text><text x="${W}" y="${H - 4}" text-anchor="end">now</text>${minutes}
    <polyline class="queued" points="${line("queued")}"></polyline><polyline class="running" points="${line("running")}"></polyline></svg>
    <figcaption class="muted"><span class="key queued"></span> queued <span class="key running"></span> running · now <span data-now="queued">${now.queued}</span> queued, <span data-now="running">${now.running}</span> running</figcaption>`;
}

const dur = s => s < 1 ? `${Math.round(s * 1000)} ms` : s < 60 ? `${s.toFixed(1)} s` : s < 3600 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${(s / 3600).toFixed(1)} h`;

function queues() {
  main.innerHTML = `<h1>Queues</h1><div class="table-wrap"><table class="stack"><thead><tr><th>Class</th><th>Queue</th><th>Queued</th><th>Running</th><th>In /min</th><th>Out /min</th><th>Oldest wait</th><th>Consumers (online)</th><th>Capable</th></tr></thead><tbody id="rows"></tbody></table></div>
    <p class="muted">In / out: builds submitted / finished per minute over the last 15 minutes.</p>`;
  return { async refresh() {
    const [classes, queued, rates] = await Promise.all([api("/api/classes"), api("/api/builds/search?state=queued&limit=500&oldest=1"), api("/api/stats/classes?minutes=15")]);
    document.getElementById("rows").innerHTML = classes.map(c => {
      const key = [c.system, ...c.features].join(" ");
      const oldest = queued.items.find(b => [b.system, ...b.features.split(" ").filter(x => x)].join(" ") === key);
      const stand = c.queued > 0 && c.onlineWorkers.length === 0;
      const rate = rates.classes.find(r => r.key === c.key) ?? { inPerMinute: 0, outPerMinute: 0 };
      return `<tr data-class="${esc(c.key)}"${stand ? ' class="stand-out"' : ""}>` + td("Class", esc(c.key), "mono") + td("Queue", esc(c.queue), "mono") + td("Queued", `<a href="#/builds/queued?system=${encodeURIComponent(c.system)}" aria-label="queued builds of ${esc(c.system)}">${c.queued}</a>`)
        + td("Running", c.running) + td("In /min", rate.inPerMinute.toFixed(2), "rate-in") + td("Out /min", rate.outPerMinute.toFixed(2), "rate-out")
        + td("Oldest wait", oldest ? when(oldest.submittedAt) : "—")
        + td("Consumers", c.onlineWorkers.length ? c.onlineWorkers.map(esc).join(", ") : `<span class="error">none online</span>`)
        + td("Capable", c.capableWorkers.map(esc).join(", ") || "—") + `</tr>`;
    }).join("") || `<tr><td colspan="9" class="muted">No classes yet: no worker has reported and nothing is queued.</td></tr>`;
  } };
}

function workers() {
  main.innerHTML = `<h1>Workers</h1><div class="table-wrap"><table class="stack"><thead><tr><th>Name</th><th>State</th><th>Systems</th><th>Features</th><th>Slots</th><th>Speed</th><th>Load</th><th>Free disk</th><th>Version</th><th>Last heartbeat</th><th>Done / failed</th><th>Actions</th></tr></thead><tbody id="rows"></tbody></table></div><p id="msg" role="status"></p>
    <h2>Probe</h2><p><button id="probe-run" type="button">Probe workers</button> <span class="muted">asks every live worker to answer and to reach the origin over SSH, like <code>buildfarm probe</code></span></p><div id="probe" aria-live="polite"></div>`;
  document.getElementById("probe-run").onclick = () => probe();
  main.onclick = async e => {
    const btn = e.target.closest("button[data-action]"); if (!btn) return;
    const note = btn.dataset.action === "resume" ? null : prompt(`Note for ${btn.dataset.action} of ${btn.dataset.worker} (shown on this page):`, "");
    if (note === null && btn.dataset.action !== "resume") return;
    try { await api(`/api/workers/${encodeURIComponent(btn.dataset.worker)}/${btn.dataset.action}`, { method: "POST", body: JSON.stringify({ note }) });
      document.getElementById("msg").textContent = `${btn.dataset.action} sent to ${btn.dataset.worker}.`; }
    catch (err) { document.getElementById("msg").textContent = `${btn.dataset.action} failed: ${err.message}`; }
  };
  return { async refresh() {
    const [ws, running] = await Promise.all([api("/api/workers"), api("/api/builds/search?state=running&limit=500")]);
    document.getElementById("rows").innerHTML = ws.map(w => {
      const used = running.items.filter(b => b.worker === w.name).length;
      const state = !w.online ? (w.state === "offline" ? "offline" : "dead") : w.draining ? "draining" : w.paused ? "paused" : "online";
      return `<tr data-worker="${esc(w.name)}">` + td("Name", `<strong>${esc(w.name)}</strong>`, "nowrap") + td("State", badge(state) + isolation(w) + (w.note ? `<div class="muted">${esc(w.note)}</div>` : ""))
        + td("Systems", w.systems.map(esc).join(", ")) + td("Features", [...w.supportedFeatures, ...w.mandatoryFeatures.map(f => f + " (mandatory)")].filter(f => !f.startsWith(TRUSTED_FEATURE)).map(esc).join(", ") || "—")
        + td("Slots", `${used} / ${w.slots}`) + td("Speed", w.speedFactor) + td("Load", w.load.toFixed(2)) + td("Free disk", bytes(w.freeDiskBytes))
        + td("Version", version(w.version), "mono nowrap") + td("Last heartbeat", when(w.lastSeen) + (w.clockSkewSeconds != null && Math.abs(w.clockSkewSeconds) >= 5 ? `<div class="muted">clock ${Math.abs(w.clockSkewSeconds).toFixed(0)} s ${w.clockSkewSeconds > 0 ? "ahead" : "behind"}</div>` : "")) + td("Done / failed", `<a href="#/builds?worker=${encodeURIComponent(w.name)}" aria-label="builds on ${esc(w.name)}: ${w.buildsDone} done, ${w.buildsFailed} failed">${w.buildsDone} / ${w.buildsFailed}</a>`)
        + td("Actions", actions(w, state)) + `</tr>`;
    }).join("") || `<tr><td colspan="12" class="muted">No worker has reported yet.</td></tr>`;
  } };
}

// The live probe (GET /api/workers/probe?wait=…): rendered once per click, not polled.
async function probe() {
  const out = document.getElementById("probe"), btn = document.getElementById("probe-run");
  btn.disabled = true; out.innerHTML = `<p class="muted">Probing…</p>`;
  try {
    const p = await api("/api/workers/probe?wait=10");
    const ok = s => s === "reachable" || s === "trusted" ? "good" : s === "unreachable" || s === "refused" || s === "untrusted" ? "error" : "muted";
    out.innerHTML = `<p class="muted">Origin: ${esc(p.origin ?? "none configured")} · waited up to ${p.waitSeconds} s</p><div class="table-wrap"><table class="stack probe"><thead><tr><th class="w14">Worker</th><th class="w13">Answered</th><th class="w11">Clock skew</th><th class="w34">Reaches origin</th><th class="w28">Key</th></tr></thead><tbody>`
      + p.workers.map(w => `<tr data-worker="${esc(w.name)}">` + td("Worker", `<strong>${esc(w.name)}</strong>`)
        + td("Answered", w.answered ? `yes, ${w.roundTripMs} ms` : w.online ? `<span class="error">no answer</span>` : esc(w.state), "answered")
        + td("Clock skew", w.clockSkewSeconds == null ? "—" : `${w.clockSkewSeconds > 0 ? "+" : ""}${w.clockSkewSeconds.toFixed(3)} s`)
        + td("Reaches origin", `<span class="${ok(w.originReachable)}">${esc(w.originReachable)}</span><div class="muted">${esc(w.originDetail)}</div>`, "origin")
        + td("Key", `<span class="${ok(w.keyStatus)}">${esc(w.keyStatus)}</span><div class="muted">${esc(w.keyDetail)}</div>`, "keycheck") + `</tr>`).join("")
      + `</tbody></table></div>`;
  } catch (err) { out.innerHTML = `<p class="error">probe failed: ${esc(err.message)}</p>`; }
  finally { btn.disabled = false; }
}

// Only what can apply: a drain is one-way (finish, then exit), resume undoes a pause, nothing reaches a stopped worker.
function actions(w, state) {
  const can = { drain: state === "online" || state === "paused", pause: state === "online", resume: state === "paused" };
  return ["drain", "pause", "resume"].map(a => `<button data-action="${a}" data-worker="${esc(w.name)}"${can[a] ? "" : " disabled"}>${a[0].toUpperCase() + a.slice(1)}</button>`).join(" ");
}

function builds(initialState, params) {
  let offset = 0, sort = "time", dir = "desc"; const limit = 25;
  const th = (label, key) => `<th data-sort-key="${key}"><button type="button" class="sort" data-sort="${key}">${label}<span class="arrow" aria-hidden="true"></span></button></th>`;
  main.innerHTML = `<h1>Builds</h1>
    <form class="filters" id="filters" role="search">
      <label>Name <input name="name" type="search" placeholder="e.g. hello"></label>
      <label>State <select name="state"><option value="">any</option><option>queued</option><option>running</option><option>succeeded</option><option>failed</option><option>cancelled</option></select></label>
      <label>System <input name="system" placeholder="x86_64-linux" size="14"></label>
      <label>Worker <input name="worker" size="12"></label>
      <label>Submitted from <input name="since" type="datetime-local"></label>
      <label>Submitted before <input name="until" type="datetime-local"></label>
      <button type="submit">Filter</button>
    </form>
    <div class="table-wrap"><table class="stack"><thead><tr>${th("Derivation", "name")}${th("State", "state")}<th>System</th><th>Worker</th><th>Attempt</th>${th("Submitted", "time")}<th>Finished</th></tr></thead><tbody id="rows"></tbody></table></div>
    <div class="pager"><button id="prev" type="button">← Newer</button><span id="pos" class="muted"></span><button id="next" type="button">Older →</button></div>`;
  const form = document.getElementById("filters");
  form.state.value = initialState || "";
  for (const k of ["name", "system", "worker"]) form[k].value = params?.get(k) ?? "";
  let total = 0;
  form.onsubmit = e => { e.preventDefault(); offset = 0; tick(); };
  document.getElementById("prev").onclick = () => { offset = Math.max(0, offset - limit); tick(); };
  document.getElementById("next").onclick = () => { if (offset + limit < total) { offset += limit; tick(); } };
  // Sorting is server-side (the table is paged): same column flips the direction, a new one starts A→Z / newest first.
  main.querySelector("thead").onclick = e => {
    const b = e.target.closest("button[data-sort]"); if (!b) return;
    if (sort === b.dataset.sort) dir = dir === "asc" ? "desc" : "asc"; else { sort = b.dataset.sort; dir = sort === "time" ? "desc" : "asc"; }
    offset = 0; tick();
  };
  return { async refresh() {
    const q = new URLSearchParams({ offset, limit, sort, dir });
    main.querySelectorAll("th[data-sort-key]").forEach(h => h.dataset.sortKey === sort ? h.setAttribute("aria-sort", dir === "asc" ? "ascending" : "descending") : h.removeAttribute("aria-sort"));
    for (const k of ["name", "state", "system", "worker"]) if (form[k].value.trim()) q.set(k, form[k].value.trim());
    // datetime-local is the browser's local time; the API takes instants.
    for (const k of ["since", "until"]) if (form[k].value) q.set(k, new Date(form[k].value).toISOString());
    const page = await api(`/api/builds/search?${q}`);
    total = page.total;
    document.getElementById("rows").innerHTML = page.items.map(b => `<tr>` + td("Derivation", `<a href="#/build/${b.id}" class="mono">${esc(drvName(b.drvPath))}</a>`)
      + td("State", badge(b.state)) + td("System", esc(b.system) + (b.features ? ` <span class="muted">${esc(b.features)}</span>` : ""))
      + td("Worker", esc(b.worker ?? "—")) + td("Attempt", b.attempt) + td("Submitted", when(b.submittedAt)) + td("Finished", when(b.finishedAt)) + `</tr>`).join("")
      || `<tr><td colspan="7" class="muted">No build matches.</td></tr>`;
    document.getElementById("pos").textContent = total ? `${offset + 1}–${offset + page.items.length} of ${total}` : "0 builds";
    document.getElementById("prev").disabled = offset === 0;
    document.getElementById("next").disabled = offset + limit >= total;
  } };
}

function build(id) {
  main.innerHTML = `<p><a href="#/builds">← Builds</a></p><div id="head"></div><h2>Derivation</h2><div id="drv"><p class="muted">Loading…</p></div><h2>Timeline</h2><div id="phases" class="phases"></div><h2>Attempts</h2><ol id="attempts" class="timeline"></ol><h2>Outputs</h2><div id="outputs"></div><h2>Log</h2><pre id="log" class="log" tabindex="0" aria-label="Build log"></pre>`;
  showDerivation(id);
  if (logBuild !== id) { logBuild = id; logCursor = 0; }
  logCursor = 0;
  const log = document.getElementById("log");
  main.onclick = async e => {
    if (e.target.matches("#retry")) {
      try { const r = await api(`/api/builds/${id}/retry`, { method: "POST" }); location.hash = `#/build/${r.id}`; }
      catch (err) { document.getElementById("action-msg").textContent = `retry failed: ${err.message}`; }
      return;
    }
    if (!e.target.matches("#cancel")) return;
    try { await api(`/api/builds/${id}/cancel`, { method: "POST" }); tick(); } catch (err) { alert(`cancel failed: ${err.message}`); }
  };
  return { async refresh() {
    const [b, phases] = await Promise.all([api(`/api/builds/${id}`), api(`/api/builds/${id}/phases`)]);
    const open = b.state === "queued" || b.state === "running";
    document.getElementById("head").innerHTML = `<h1 class="mono">${esc(drvName(b.drvPath))} ${badge(b.state)}</h1>
      <dl class="kv"><dt>Build</dt><dd class="mono">${esc(b.id)}</dd><dt>Derivation</dt><dd class="mono">${esc(b.drvPath)}</dd>
      <dt>Class</dt><dd class="mono">${esc(b.classKey)}</dd><dt>Worker</dt><dd>${esc(b.worker ?? "—")}</dd><dt>Attempt</dt><dd>${b.attempt}</dd><dt>Priority</dt><dd>${b.priority}</dd>
      <dt>Trusted</dt><dd data-trusted="${b.trusted}">${b.trusted ? "yes: an operator let it run on workers without a sandbox" : "no"}</dd>
      <dt>Ran</dt><dd data-isolation="${esc(b.isolation ?? "unknown")}" class="${b.isolation === "unsandboxed" ? "error" : ""}">${b.isolation ? esc(b.isolation) : "—"}</dd>
      ${b.waitingReason ? `<dt>Waiting</dt><dd class="error">${esc(b.waitingReason)}</dd>` : ""}
      ${b.failureReason ? `<dt>Failure</dt><dd class="error">${esc(b.failureKind ?? "")}: ${esc(b.failureReason)}${b.exitCode != null ? ` (exit ${b.exitCode})` : ""}</dd>` : ""}
      <dt>Submitted</dt><dd>${when(b.submittedAt)}</dd><dt>Published</dt><dd>${when(b.publishedAt)}</dd><dt>Started</dt><dd>${when(b.startedAt)}</dd><dt>Finished</dt><dd>${when(b.finishedAt)}</dd></dl>
      ${open ? `<p><button id="cancel" class="danger" type="button">Cancel build</button></p>` : ""}
      ${b.state === "failed" || b.state === "cancelled" ? `<p><button id="retry" type="button">Retry build</button> <span class="muted">submits the same derivation again as a new build</span></p>` : ""}
      <p id="action-msg" role="status" class="error"></p>`;
    document.getElementById("phases").innerHTML = timeline(phases.phases);
    // The CSP allows no style attributes in markup; setting the property from script is allowed.
    for (const el of document.querySelectorAll("#phases [data-grow]")) el.style.flexGrow = el.dataset.grow;
    document.getElementById("attempts").innerHTML = b.attempts.map(a => `<li><strong>Attempt ${a.attempt}</strong> on ${esc(a.worker)}${a.isolation ? ` (${esc(a.isolation)})` : ""} · ${badge(a.outcome)}
      · started ${when(a.startedAt)} · finished ${when(a.finishedAt)}${a.startedAt && a.finishedAt ? ` · took ${((Date.parse(a.finishedAt) - Date.parse(a.startedAt)) / 1000).toFixed(1)} s` : ""}
      ${a.reason ? `<div class="muted">${esc(a.reason)}</div>` : ""}</li>`).join("") || `<li class="muted">Not started yet.</li>`;
    document.getElementById("outputs").innerHTML = b.outputs.length ? `<div class="table-wrap"><table class="stack"><thead><tr><th>Name</th><th>Path</th><th>NAR hash</th><th>Size</th><th>Signatures</th></tr></thead><tbody>`
      + b.outputs.map(o => `<tr>` + td("Name", esc(o.name)) + td("Path", esc(o.path), "mono") + td("NAR hash", esc(o.narHash), "mono") + td("Size", bytes(o.narSize)) + td("Signatures", o.signatures.map(esc).join("<br>"), "mono") + `</tr>`).join("")
      + `</tbody></table></div>` : `<p class="muted">No outputs yet.</p>`;
    for (;;) {
      const chunk = await api(`/api/builds/${id}/log?after=${logCursor}`);
      if (!chunk.chunks.length) break;
      const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
      log.append(chunk.chunks.map(c => c.text).join(""));
      logCursor = chunk.next;
      if (atBottom) log.scrollTop = log.scrollHeight;
    }
    if (!log.textContent) log.textContent = "";
    log.dataset.state = b.state;
  } };
}

// A derivation never changes: fetched once per page (GET /api/builds/{id}/derivation, nix show-derivation's JSON).
async function showDerivation(id) {
  const el = document.getElementById("drv");
  try {
    const [, d] = Object.entries(await api(`/api/builds/${id}/derivation`))[0];
    const list = (items, render) => items.length ? items.map(render).join("<br>") : "—";
    const rows = [
      ["System", esc(d.system)], ["Builder", `<span class="mono">${esc(d.builder)}</span>`],
      ["Arguments", list(d.args, a => `<code>${esc(a)}</code>`)],
      ["Outputs", list(Object.entries(d.outputs), ([n, o]) => `${esc(n)} <span class="mono">${esc(o.path || "(content-addressed)")}</span>${o.hash ? ` fixed ${esc(o.hashAlgo)}:${esc(o.hash)}` : ""}`)],
      ["Input derivations", list(Object.entries(d.inputDrvs), ([p, outs]) => `<span class="mono" title="${esc(p)}">${esc(drvName(p))}</span> (${outs.map(esc).join(", ")})`)],
      ["Input sources", list(d.inputSrcs, p => `<span class="mono">${esc(p)}</span>`)]];
    const env = Object.entries(d.env);
    el.innerHTML = `<dl class="kv">${rows.map(([k, v]) => `<dt>${k}</dt><dd data-field="${esc(k)}">${v}</dd>`).join("")}</dl>
      <details class="env"><summary>Environment (${env.length} variables)</summary><dl class="kv">${env.map(([k, v]) => `<dt class="mono">${esc(k)}</dt><dd class="mono">${esc(v)}</dd>`).join("")}</dl></details>`;
  } catch (err) { el.innerHTML = `<p class="error">derivation unavailable: ${esc(err.message)}</p>`; }
}

// Phases as a proportional bar (each at least visible) plus a list with exact durations.
function timeline(phases) {
  const total = phases.reduce((n, p) => n + p.seconds, 0) || 1;
  const cls = p => p.name.split(" ")[0].replace(/[^a-z]/g, "");
  return `<div class="phase-bar" aria-hidden="true">${phases.map(p => `<span class="ph ${cls(p)}${p.open ? " open" : ""}" data-grow="${Math.max(p.seconds / total, 0.02)}" title="${esc(p.name)}: ${dur(p.seconds)}"></span>`).join("")}</div>
    <ol class="phase-list">${phases.map(p => `<li data-phase="${esc(p.name)}"><span class="key ph ${cls(p)}"></span><strong>${esc(p.name)}</strong> ${dur(p.seconds)}${p.open ? " so far" : ""}`
      + `${p.worker ? ` <span class="muted">on ${esc(p.worker)}</span>` : ""}</li>`).join("")}</ol>`;
}

// Graphs: the latest graphs, then one graph's nodes in dependency order (GET /api/graphs, /api/graphs/{id}).
const graphName = g => g.targets.map(drvName).join(", ");
const graphCounts = c => ({ done: c.succeeded + c.skipped, running: c.running, queued: c.queued, failed: c.failed + c.dependencyFailed, total: c.total });

function graphs() {
  main.innerHTML = `<h1>Graphs</h1><div class="table-wrap"><table class="stack"><thead><tr><th>Target</th><th>State</th><th>Done</th><th>Running</th><th>Queued</th><th>Failed</th><th>Total</th><th>Submitted</th><th>Finished</th></tr></thead><tbody id="rows"></tbody></table></div>
    <p class="muted">Done counts built and already-valid nodes; failed counts failed nodes and those whose inputs failed.</p>`;
  return { async refresh() {
    const list = await api("/api/graphs?limit=100");
    document.getElementById("rows").innerHTML = list.map(g => {
      const n = graphCounts(g.counts);
      return `<tr data-graph="${esc(g.id)}">` + td("Target", `<a href="#/graph/${esc(g.id)}" class="mono">${esc(graphName(g))}</a>`) + td("State", badge(g.state))
        + ["done", "running", "queued", "failed", "total"].map(k => td(k[0].toUpperCase() + k.slice(1), `<span data-count="${k}">${n[k]}</span>`)).join("")
        + td("Submitted", when(g.createdAt)) + td("Finished", when(g.finishedAt)) + `</tr>`;
    }).join("") || `<tr><td colspan="9" class="muted">No graph yet: <code>buildfarm build</code> or <code>POST /api/graphs</code> submits one.</td></tr>`;
  } };
}

// A graph's nodes come a page at a time, already in dependency order with their level (GET /api/graphs/{id}?offset&limit):
// a 10,000-node graph is a 4 MB answer whole, 500 rows are a page.
const graphPageSize = 500;

function graph(id) {
  let offset = 0;
  main.innerHTML = `<p><a href="#/graphs">← Graphs</a></p><div id="head"></div><h2>Derivations</h2>
    <div class="table-wrap"><table class="stack"><thead><tr><th>Level</th><th>Derivation</th><th>State</th><th>Inputs</th><th>Build</th><th>Worker</th><th>Reason</th></tr></thead><tbody id="nodes"></tbody></table></div>
    <p id="node-pages" class="muted"></p>`;
  main.onclick = async e => {
    const step = e.target.closest("[data-page-step]");
    if (step) { offset = Math.max(0, offset + Number(step.dataset.pageStep) * graphPageSize); tick(); return; }
    if (!e.target.matches("#cancel-graph")) return;
    try { await api(`/api/graphs/${id}/cancel`, { method: "POST" }); tick(); }
    catch (err) { document.getElementById("action-msg").textContent = `cancel failed: ${err.message}`; }
  };
  return { async refresh() {
    const g = await api(`/api/graphs/${id}?offset=${offset}&limit=${graphPageSize}`);
    const n = graphCounts(g.counts);
    document.getElementById("head").innerHTML = `<h1 class="mono">${esc(graphName(g))} ${badge(g.state)}</h1>
      <dl class="kv"><dt>Graph</dt><dd class="mono">${esc(g.id)}</dd><dt>Targets</dt><dd class="mono">${g.targets.map(esc).join("<br>")}</dd>
      <dt>Nodes</dt><dd>${["done", "running", "queued", "failed", "total"].map(k => `<span data-count="${k}">${n[k]}</span> ${k}`).join(" · ")}${g.counts.waiting ? ` · ${g.counts.waiting} waiting` : ""}${g.counts.stopped ? ` · ${g.counts.stopped} stopped` : ""}</dd>
      <dt>Keep going</dt><dd>${g.keepGoing ? "yes" : "no"}</dd><dt>Submitted</dt><dd>${when(g.createdAt)}</dd><dt>Finished</dt><dd>${when(g.finishedAt)}</dd></dl>
      ${g.state === "running" ? `<p><button id="cancel-graph" class="danger" type="button">Cancel graph</button></p>` : ""}<p id="action-msg" role="status" class="error"></p>`;
    const total = g.counts.total, last = Math.min(offset + g.nodes.length, total);
    document.getElementById("node-pages").innerHTML = total > graphPageSize
      ? `Derivations ${offset + 1}–${last} of ${total} `
        + `<button type="button" data-page-step="-1"${offset === 0 ? " disabled" : ""}>Previous ${graphPageSize}</button> `
        + `<button type="button" data-page-step="1"${last >= total ? " disabled" : ""}>Next ${graphPageSize}</button>`
      : "";
    document.getElementById("nodes").innerHTML = g.nodes.map(x => `<tr data-node="${esc(drvName(x.drvPath))}" data-state="${esc(x.state)}">`
      + td("Level", x.level) + td("Derivation", `<span class="mono" title="${esc(x.drvPath)}">${esc(drvName(x.drvPath))}</span>${x.isTarget ? ` <span class="muted">(target)</span>` : ""}`)
      + td("State", badge(x.state)) + td("Inputs", x.dependencies.map(d => esc(drvName(d))).join(", ") || "—", "mono")
      + td("Build", x.buildId ? `<a href="#/build/${esc(x.buildId)}" aria-label="build of ${esc(drvName(x.drvPath))}">${esc(x.buildId.slice(0, 8))}</a>` : "—")
      + td("Worker", esc(x.worker ?? "—")) + td("Reason", x.reason ? `<span class="${x.state === "skipped" ? "muted" : "error"}">${esc(x.reason)}</span>` : "—") + `</tr>`).join("")
      || `<tr><td colspan="7" class="muted">No derivation in this graph.</td></tr>`;
  } };
}

window.addEventListener("hashchange", () => { main.onclick = null; go(); main.focus(); });
go();
