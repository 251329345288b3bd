/**
 * The status page: plain HTML rendered on the server from a `ServiceStatus`, and a small
 * script that replaces the live part with a fresh rendering pushed over Server-Sent Events
 * (`/api/status/stream`), and follows a frame's log (`/api/jobs/:job/frames/:frame/log`).
 * One renderer: the script never builds markup itself.
 */
import type { FrameStatusView, GroupStatusView, JobStatusView, ServiceStatus } from './status';

/** Escapes text for HTML content and attribute values. */
export function esc(value: unknown): string {
  return String(value)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

function money(value: number | undefined, currency: string): string {
  if (value === undefined) return '—';
  const digits = Math.abs(value) < 1 ? 4 : 2;
  return `${value.toFixed(digits)} ${esc(currency)}`;
}

function pair(p: { dedicated: number; spot: number }): string {
  return `${p.dedicated} / ${p.spot}`;
}

function moneySection(s: ServiceStatus): string {
  const m = s.money;
  const capped = m.maxSpendPerHour > 0;
  const share = capped ? Math.min(100, (m.projectedCostPerHour / m.maxSpendPerHour) * 100) : 0;
  return `<section id="money" aria-label="money">
  <h2>Spend</h2>
  <dl class="figures">
    <div><dt>spent so far</dt><dd id="spent-total">${money(m.spentTotal, m.currency)}</dd>${
      m.spentSince ? `<dd class="small">since ${esc(m.spentSince)}</dd>` : ''
    }</div>
    <div><dt>per hour now</dt><dd id="cost-per-hour">${money(m.costPerHour, m.currency)}</dd></div>
    <div><dt>per hour at the plan's targets</dt><dd id="projected-per-hour">${money(m.projectedCostPerHour, m.currency)}</dd></div>
    <div><dt>budget per hour</dt><dd id="budget-per-hour">${capped ? money(m.maxSpendPerHour, m.currency) : 'uncapped'}</dd></div>
  </dl>
  ${
    capped
      ? `<div class="bar" role="meter" aria-valuemin="0" aria-valuemax="${m.maxSpendPerHour}" aria-valuenow="${m.projectedCostPerHour}" title="cost per hour at targets against the budget"><span style="width:${share.toFixed(1)}%"></span></div>`
      : ''
  }
</section>`;
}

function planSection(s: ServiceStatus): string {
  const rows = s.plan.sources
    .map(
      (p) => `<tr>
      <td>${esc(p.source)}</td><td>${esc(p.lastReportAt)}</td><td class="n">${p.queuedFrames}</td><td class="n">${p.cloudFrames}</td>
      <td class="n">${p.offloadFrames}</td><td class="n">${p.recallFrames}</td>
      <td>${p.reasons.length > 0 ? `<ul class="reasons">${p.reasons.map((r) => `<li>${esc(r)}</li>`).join('')}</ul>` : '—'}</td>
    </tr>`,
    )
    .join('');
  return `<section id="plan" aria-label="plan">
  <h2>Current plan${s.plan.planner ? ` <span class="small">(${esc(s.plan.planner)})</span>` : ''}</h2>
  ${
    rows
      ? `<table><thead><tr><th>bridge</th><th>last report</th><th>queued locally</th><th>in cloud</th><th>offload</th><th>recall</th><th>reasons</th></tr></thead><tbody>${rows}</tbody></table>`
      : '<p class="none">No bridge has reported yet: no plan.</p>'
  }
</section>`;
}

function groupRow(g: GroupStatusView, currency: string): string {
  const nodes = Object.entries(g.nodes)
    .map(
      ([state, c]) => `<span class="node-state ${esc(state)}">${esc(state)} ${c.dedicated + c.spot}</span>`,
    )
    .join(' ');
  return `<tr data-group="${esc(g.name)}">
    <td>${esc(g.name)}</td><td>${esc(g.mode)}</td><td>${esc(g.vmSize)}</td><td>${esc(g.state)}</td>
    <td class="n">${pair(g.current)}</td><td class="n">${pair(g.target)}</td><td class="n">${pair(g.max)}</td>
    <td>${nodes || '—'}</td><td class="n">${money(g.costPerHour, currency)}</td>
    <td class="n">${money(g.spentTotal, currency)}</td>
    <td>${g.errors.map((e) => `<div class="error">${esc(e.code)}: ${esc(e.message)}</div>`).join('')}</td>
  </tr>`;
}

function capacitySection(s: ServiceStatus): string {
  return `<section id="capacity" aria-label="capacity">
  <h2>Capacity <span class="small">${s.totals.nodes.dedicated} dedicated + ${s.totals.nodes.spot} spot node(s)</span></h2>
  ${
    s.groups.length > 0
      ? `<table><thead><tr><th>group</th><th>mode</th><th>VM size</th><th>state</th><th>nodes ded/spot</th><th>target</th><th>max</th><th>nodes by state</th><th>per hour</th><th>spent</th><th>errors</th></tr></thead>
  <tbody>${s.groups.map((g) => groupRow(g, s.money.currency)).join('')}</tbody></table>`
      : '<p class="none">No capacity groups.</p>'
  }
</section>`;
}

function frameRow(job: JobStatusView, f: FrameStatusView, currency: string): string {
  const range = f.frameStart === f.frameEnd ? `${f.frameStart}` : `${f.frameStart}-${f.frameEnd}`;
  const logUrl = `/jobs/${encodeURIComponent(job.jobId)}/frames/${encodeURIComponent(f.frameId)}/log`;
  return `<tr class="frame ${esc(f.state)}" data-frame="${esc(f.frameId)}" data-state="${esc(f.state)}">
    <td>${esc(range)}</td><td class="state">${esc(f.state)}</td><td class="n">${f.attempts}</td><td class="n">${f.preemptions}</td>
    <td>${esc(f.nodeId ?? '')}</td><td class="n">${money(f.cost, currency)}</td>
    <td><a href="${logUrl}">log</a></td><td class="small">${esc(f.message ?? '')}</td>
  </tr>`;
}

function jobBlock(j: JobStatusView, currency: string): string {
  const c = j.counts;
  const local = j.local
    ? `${j.local.queued} queued${j.local.rendering !== undefined ? `, ${j.local.rendering} rendering` : ''}`
    : '—';
  return `<details class="job" data-job="${esc(j.jobId)}" ${j.state === 'active' ? 'open' : ''}>
  <summary><b>${esc(j.name)}</b> <span class="small">${esc(j.source)} / ${esc(j.sourceJobId)} · ${esc(j.jobId)}${
    j.capacityGroup ? ` · group ${esc(j.capacityGroup)}` : ''
  }</span> <span class="job-state ${esc(j.state)}">${esc(j.state)}</span></summary>
  <table class="counts"><thead><tr><th>local</th><th>offloaded</th><th>queued in cloud</th><th>running in cloud</th><th>succeeded</th><th>recalled</th><th>failed</th><th>cancelled</th><th>cost</th></tr></thead>
  <tbody><tr><td>${local}</td><td class="n">${c.offloaded}</td><td class="n">${c.queued}</td><td class="n">${c.running}</td><td class="n">${c.succeeded}</td><td class="n">${c.recalled}</td><td class="n">${c.failed}</td><td class="n">${c.cancelled}</td><td class="n">${money(j.cost, currency)}</td></tr></tbody></table>
  <table class="frames"><thead><tr><th>frames</th><th>state</th><th>attempts</th><th>evictions</th><th>node</th><th>cost</th><th></th><th></th></tr></thead>
  <tbody>${j.frames.map((f) => frameRow(j, f, currency)).join('')}</tbody></table>
  ${j.moreFrames > 0 ? `<p class="small">and ${j.moreFrames} more frame(s)</p>` : ''}
</details>`;
}

function jobsSection(s: ServiceStatus): string {
  const t = s.totals.frames;
  return `<section id="jobs" aria-label="jobs">
  <h2>Jobs <span class="small">cloud frames: ${t.queued} queued, ${t.preparing + t.running} running, ${t.succeeded} succeeded, ${t.recalled} recalled, ${t.failed} failed</span></h2>
  ${s.jobs.length > 0 ? s.jobs.map((j) => jobBlock(j, s.money.currency)).join('') : '<p class="none">No jobs yet.</p>'}
</section>`;
}

/** The live part of the page: everything the stream replaces. */
export function renderLive(s: ServiceStatus): string {
  return `<p class="small" id="generated">as of <time>${esc(s.generatedAt)}</time></p>
${moneySection(s)}
${planSection(s)}
${capacitySection(s)}
${jobsSection(s)}`;
}

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1c2430;background:#f6f7f9}
header{background:#123a5a;color:#fff;padding:.6em 1.2em;display:flex;gap:1em;align-items:baseline}
header h1{font-size:1.3em;margin:0}
main{padding:0 1.2em 2em}
h2{font-size:1.1em;margin:1.2em 0 .4em}
table{border-collapse:collapse;background:#fff;margin:.3em 0}
th,td{border:1px solid #d5dae1;padding:.2em .5em;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.small{font-size:.85em;color:#5a6575;font-weight:normal}
.none{color:#5a6575}
dl.figures{display:flex;gap:2em;margin:.3em 0}
dl.figures dt{font-size:.85em;color:#5a6575}
dl.figures dd{margin:0;font-size:1.3em;font-variant-numeric:tabular-nums}
dl.figures dd.small{font-size:.8em}
.bar{width:28em;height:.7em;background:#dfe4ea;border-radius:.35em;overflow:hidden}
.bar span{display:block;height:100%;background:#2f7d4f}
details.job{background:#fff;border:1px solid #d5dae1;margin:.5em 0;padding:.4em .6em}
tr.frame.running td.state,tr.frame.preparing td.state{color:#1f5fa8;font-weight:600}
tr.frame.failed td.state{color:#b3261e;font-weight:600}
tr.frame.succeeded td.state{color:#2f7d4f}
tr.frame.recalled td.state{color:#8a6d00}
.job-state{font-size:.85em;padding:0 .4em;border-radius:.3em;background:#eef1f5}
.error{color:#b3261e}
ul.reasons{margin:0;padding-left:1.1em}
.node-state{display:inline-block;padding:0 .3em;margin:0 .1em;background:#eef1f5;border-radius:.2em}
pre.log{background:#0f1720;color:#d8e0ea;padding:.8em;min-height:12em;white-space:pre-wrap;word-break:break-all}
`;

/** The whole status page, with the script that keeps it live. */
export function renderPage(s: ServiceStatus, title = 'Spillway'): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)} status</title>
<style>${STYLE}</style>
</head>
<body>
<header><h1>${esc(title)}</h1><span class="small" id="connection">live</span>
<a href="/metrics" style="color:#cfe3f5;margin-left:auto">metrics</a><a href="/api/status" style="color:#cfe3f5">JSON</a></header>
<main id="live">
${renderLive(s)}
</main>
<script>
(function () {
  var live = document.getElementById('live');
  var conn = document.getElementById('connection');
  var source = new EventSource('/api/status/stream');
  source.addEventListener('status', function (e) {
    var open = {};
    live.querySelectorAll('details.job').forEach(function (d) { open[d.dataset.job] = d.open; });
    live.innerHTML = JSON.parse(e.data).html;
    live.querySelectorAll('details.job').forEach(function (d) {
      if (d.dataset.job in open) d.open = open[d.dataset.job];
    });
    conn.textContent = 'live';
  });
  source.onerror = function () { conn.textContent = 'reconnecting…'; };
})();
</script>
</body>
</html>`;
}

/** A frame's log page: its log as it grows, read from `/api/jobs/:job/frames/:frame/log`. */
export function renderLogPage(jobId: string, frame: string, title = 'Spillway'): string {
  const api = `/api/jobs/${encodeURIComponent(jobId)}/frames/${encodeURIComponent(frame)}/log?follow=1`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${esc(title)}: log of ${esc(frame)}</title>
<style>${STYLE}</style>
</head>
<body>
<header><h1><a href="/" style="color:#fff">${esc(title)}</a></h1><span>job ${esc(jobId)} · frame ${esc(frame)}</span>
<span class="small" id="log-state" style="color:#cfe3f5">connecting…</span></header>
<main>
<pre class="log" id="log" data-api="${esc(api)}"></pre>
</main>
<script>
(function () {
  var pre = document.getElementById('log');
  var state = document.getElementById('log-state');
  var attempt = 0;
  var source = new EventSource(pre.dataset.api);
  source.addEventListener('chunk', function (e) {
    var c = JSON.parse(e.data);
    if (attempt && c.attempt && c.attempt !== attempt) {
      pre.appendChild(document.createTextNode('\\n--- attempt ' + c.attempt + ': the log starts over ---\\n'));
    }
    if (c.attempt) attempt = c.attempt;
    if (c.text) pre.appendChild(document.createTextNode(c.text));
    state.textContent = c.state + (c.attempt ? ' · attempt ' + c.attempt : '') + (c.end ? ' · end of log' : '');
    if (c.end) source.close();
  });
  source.addEventListener('failure', function (e) {
    state.textContent = JSON.parse(e.data).message;
    source.close();
  });
})();
</script>
</body>
</html>`;
}
