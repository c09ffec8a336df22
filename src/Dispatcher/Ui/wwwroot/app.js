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
const td = (label, html, cls) => `<td data-label="${esc(label)}"${cls ? ` class="${cls}"` : ""}>${html}</td>`;

async function api(path, options) {
  const r = await fetch(path, { credentials: "same-origin", headers: { "Accept": "application/json", "Content-Type": "application/json" }, ...options });
  if (r.status === 401) { location.href = "/login"; throw new Error("not signed in"); }
  const body = r.headers.get("content-type")?.includes("json") ? await r.json() : await r.text();
  if (!r.ok) throw new Error(body?.error ?? `${r.status} ${path}`);
  return body;
}

function setLive(ok, msg) { live.textContent = msg; live.classList.toggle("err", !ok); }

async function tick() {
  try { await route.refresh(); setLive(true, `live · updated ${new Date().toLocaleTimeString()}`); }
  catch (e) { setLive(false, `not updating: ${e.message}`); }
}

function go() {
  clearInterval(timer);
  const hash = location.hash.replace(/^#/, "") || "/";
  const [, page, arg] = hash.split("/");
  const pages = { "": overview, queues, workers, builds, build };
  route = (pages[page] ?? overview)(decodeURIComponent(arg ?? ""));
  document.querySelectorAll("nav a").forEach(a => a.toggleAttribute("aria-current", a.dataset.page === (page === "build" ? "builds" : page || "overview")));
  document.querySelectorAll("nav a[aria-current]").forEach(a => a.setAttribute("aria-current", "page"));
  tick();
  timer = setInterval(tick, POLL_MS);
}

function overview() {
  main.innerHTML = `<h1>Overview</h1><div id="cards" class="cards"></div><h2>Alerts</h2><ul id="alerts" class="alerts"></ul><h2>Oldest waiting build</h2><div id="oldest"></div>`;
  return { async refresh() {
    const [counts, workers, classes, oldest] = await Promise.all([
      Promise.all(["queued", "running", "succeeded", "failed"].map(s => api(`/api/builds/search?state=${s}&limit=1`).then(p => [s, p.total]))),
      api("/api/workers"), api("/api/classes"), api("/api/builds/search?state=queued&limit=1&oldest=1")]);
    const online = workers.filter(w => w.online);
    const slots = online.reduce((n, w) => n + w.slots, 0);
    const used = counts.find(c => c[0] === "running")[1];
    document.getElementById("cards").innerHTML = counts.map(([s, n]) =>
      `<a class="card" href="#/builds/${s}" style="text-decoration:none;color:inherit"><div class="n" data-count="${s}">${n}</div><div class="l">${s}</div></a>`).join("")
      + `<div class="card"><div class="n" data-count="slots">${used} / ${slots}</div><div class="l">slots used / online total</div></div>`
      + `<div class="card"><div class="n">${online.length} / ${workers.length}</div><div class="l">workers online / known</div></div>`;
    const alerts = [];
    for (const c of classes) if (c.queued > 0 && c.onlineWorkers.length === 0)
      alerts.push(`Class <span class="mono">${esc(c.key)}</span> has ${c.queued} queued build(s) and no capable worker online` + (c.capableWorkers.length ? ` (capable but offline: ${c.capableWorkers.map(esc).join(", ")})` : " (no worker can run it)"));
    for (const w of workers) if (!w.online && w.state !== "offline")
      alerts.push(`Worker <a href="#/workers">${esc(w.name)}</a> not heard from since ${when(w.lastSeen)}`);
    for (const w of workers) if (w.buildsFailed > 0 && w.buildsFailed >= w.buildsDone)
      alerts.push(`Worker ${esc(w.name)} is failing: ${w.buildsFailed} failed vs ${w.buildsDone} done`);
    document.getElementById("alerts").innerHTML = alerts.length ? alerts.map(a => `<li>${a}</li>`).join("") : `<li class="ok">No alerts.</li>`;
    const b = oldest.items[0];
    document.getElementById("oldest").innerHTML = b ? `<a href="#/build/${b.id}">${esc(drvName(b.drvPath))}</a> · ${esc(b.system)} · submitted ${when(b.submittedAt)}` : `<span class="muted">Nothing is waiting.</span>`;
  } };
}

function queues() {
  main.innerHTML = `<h1>Queues</h1><div class="table-wrap"><table class="stack"><thead><tr><th>Class</th><th>Queue</th><th>Queued</th><th>Running</th><th>Oldest wait</th><th>Consumers (online)</th><th>Capable</th></tr></thead><tbody id="rows"></tbody></table></div>`;
  return { async refresh() {
    const [classes, queued] = await Promise.all([api("/api/classes"), api("/api/builds/search?state=queued&limit=500&oldest=1")]);
    document.getElementById("rows").innerHTML = classes.map(c => {
      const key = [c.system, ...c.features].join(" ");
      const oldest = queued.items.find(b => [b.system, ...b.features.split(" ").filter(x => x)].join(" ") === key);
      const stand = c.queued > 0 && c.onlineWorkers.length === 0;
      return `<tr${stand ? ' class="stand-out"' : ""}>` + td("Class", esc(c.key), "mono") + td("Queue", esc(c.queue), "mono") + td("Queued", c.queued)
        + td("Running", c.running) + td("Oldest wait", oldest ? when(oldest.submittedAt) : "—")
        + td("Consumers", c.onlineWorkers.length ? c.onlineWorkers.map(esc).join(", ") : `<span class="error">none online</span>`)
        + td("Capable", c.capableWorkers.map(esc).join(", ") || "—") + `</tr>`;
    }).join("") || `<tr><td colspan="7" class="muted">No classes yet: no worker has reported and nothing is queued.</td></tr>`;
  } };
}

function workers() {
  main.innerHTML = `<h1>Workers</h1><div class="table-wrap"><table class="stack"><thead><tr><th>Name</th><th>State</th><th>Systems</th><th>Features</th><th>Slots</th><th>Speed</th><th>Load</th><th>Free disk</th><th>Version</th><th>Last heartbeat</th><th>Done / failed</th><th>Actions</th></tr></thead><tbody id="rows"></tbody></table></div><p id="msg" role="status"></p>`;
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
      return `<tr data-worker="${esc(w.name)}">` + td("Name", `<strong>${esc(w.name)}</strong>`) + td("State", badge(state) + (w.note ? `<div class="muted">${esc(w.note)}</div>` : ""))
        + td("Systems", w.systems.map(esc).join(", ")) + td("Features", [...w.supportedFeatures, ...w.mandatoryFeatures.map(f => f + " (mandatory)")].map(esc).join(", ") || "—")
        + td("Slots", `${used} / ${w.slots}`) + td("Speed", w.speedFactor) + td("Load", w.load.toFixed(2)) + td("Free disk", bytes(w.freeDiskBytes))
        + td("Version", esc(w.version)) + td("Last heartbeat", when(w.lastSeen)) + td("Done / failed", `${w.buildsDone} / ${w.buildsFailed}`)
        + td("Actions", `<button data-action="drain" data-worker="${esc(w.name)}">Drain</button> <button data-action="pause" data-worker="${esc(w.name)}">Pause</button> <button data-action="resume" data-worker="${esc(w.name)}">Resume</button>`) + `</tr>`;
    }).join("") || `<tr><td colspan="12" class="muted">No worker has reported yet.</td></tr>`;
  } };
}

function builds(initialState) {
  let offset = 0; const limit = 25;
  main.innerHTML = `<h1>Builds</h1>
    <form class="filters" id="filters" role="search">
      <label>Name <input name="name" type="search" placeholder="e.g. hello"></label>
      <label>State <select name="state"><option value="">any</option><option>queued</option><option>running</option><option>succeeded</option><option>failed</option><option>cancelled</option></select></label>
      <label>System <input name="system" placeholder="x86_64-linux" size="14"></label>
      <label>Worker <input name="worker" size="12"></label>
      <button type="submit">Filter</button>
    </form>
    <div class="table-wrap"><table class="stack"><thead><tr><th>Derivation</th><th>State</th><th>System</th><th>Worker</th><th>Attempt</th><th>Submitted</th><th>Finished</th></tr></thead><tbody id="rows"></tbody></table></div>
    <div class="pager"><button id="prev" type="button">← Newer</button><span id="pos" class="muted"></span><button id="next" type="button">Older →</button></div>`;
  const form = document.getElementById("filters");
  form.state.value = initialState || "";
  let total = 0;
  form.onsubmit = e => { e.preventDefault(); offset = 0; tick(); };
  document.getElementById("prev").onclick = () => { offset = Math.max(0, offset - limit); tick(); };
  document.getElementById("next").onclick = () => { if (offset + limit < total) { offset += limit; tick(); } };
  return { async refresh() {
    const q = new URLSearchParams({ offset, limit });
    for (const k of ["name", "state", "system", "worker"]) if (form[k].value.trim()) q.set(k, form[k].value.trim());
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
  main.innerHTML = `<p><a href="#/builds">← Builds</a></p><div id="head"></div><h2>Attempts</h2><ol id="attempts" class="timeline"></ol><h2>Outputs</h2><div id="outputs"></div><h2>Log</h2><pre id="log" class="log" tabindex="0" aria-label="Build log"></pre>`;
  if (logBuild !== id) { logBuild = id; logCursor = 0; }
  logCursor = 0;
  const log = document.getElementById("log");
  main.onclick = async e => {
    if (!e.target.matches("#cancel")) return;
    try { await api(`/api/builds/${id}/cancel`, { method: "POST" }); tick(); } catch (err) { alert(`cancel failed: ${err.message}`); }
  };
  return { async refresh() {
    const b = await api(`/api/builds/${id}`);
    const open = b.state === "queued" || b.state === "running";
    document.getElementById("head").innerHTML = `<h1 class="mono">${esc(drvName(b.drvPath))} ${badge(b.state)}</h1>
      <dl class="kv"><dt>Build</dt><dd class="mono">${esc(b.id)}</dd><dt>Derivation</dt><dd class="mono">${esc(b.drvPath)}</dd>
      <dt>Class</dt><dd class="mono">${esc(b.classKey)}</dd><dt>Worker</dt><dd>${esc(b.worker ?? "—")}</dd><dt>Attempt</dt><dd>${b.attempt}</dd><dt>Priority</dt><dd>${b.priority}</dd>
      ${b.waitingReason ? `<dt>Waiting</dt><dd class="error">${esc(b.waitingReason)}</dd>` : ""}
      ${b.failureReason ? `<dt>Failure</dt><dd class="error">${esc(b.failureKind ?? "")}: ${esc(b.failureReason)}${b.exitCode != null ? ` (exit ${b.exitCode})` : ""}</dd>` : ""}
      <dt>Submitted</dt><dd>${when(b.submittedAt)}</dd><dt>Published</dt><dd>${when(b.publishedAt)}</dd><dt>Started</dt><dd>${when(b.startedAt)}</dd><dt>Finished</dt><dd>${when(b.finishedAt)}</dd></dl>
      ${open ? `<p><button id="cancel" class="danger" type="button">Cancel build</button></p>` : ""}`;
    document.getElementById("attempts").innerHTML = b.attempts.map(a => `<li><strong>Attempt ${a.attempt}</strong> on ${esc(a.worker)} · ${badge(a.outcome)}
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

window.addEventListener("hashchange", () => { main.onclick = null; go(); main.focus(); });
go();
