// The dashboard page: Preact components written with htm (no build step), uPlot for the time series, fed by the JSON
// API of src/dashboard/server.ts and its SSE stream. The page holds no credentials and reads only our API.
// Routes: `#/` the models list; `#/<namespace>/<name>` one model. Column names are figures.ts's.
import { h, render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import htm from 'htm';
import uPlot from 'uplot';

const html = htm.bind(h);
const MODES = ['Hold', 'Stable', 'Panic', 'Forecast', 'Schedule'];
const MODE_COLOURS = { Hold: '#9ca3af', Stable: '#22c55e', Panic: '#ef4444', Forecast: '#a855f7', Schedule: '#3b82f6' };
const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#65a30d', '#9333ea', '#ea580c'];
const WINDOWS = ['5m', '15m', '1h'];

const fmt = (v, digits = 2) => (v === undefined || v === null ? '–' : Number(v).toFixed(digits));
const ms = (v) => (v === undefined || v === null ? '–' : `${(v * 1000).toFixed(0)} ms`);
const pct = (v) => (v === undefined || v === null ? '–' : `${(v * 100).toFixed(v < 0.1 ? 1 : 0)}%`);

async function getJson(path) {
  const res = await fetch(path);
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return res.json();
}

function useRoute() {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  return parts.length === 2 ? { namespace: parts[0], name: parts[1] } : undefined;
}

/** The models list from the SSE stream (a snapshot every scrape period), and the time of the last one. */
function useSnapshots() {
  const [snapshot, setSnapshot] = useState({ at: 0, models: undefined, connected: false });
  useEffect(() => {
    const events = new EventSource('/api/v1/events');
    events.addEventListener('snapshot', (e) => setSnapshot({ ...JSON.parse(e.data), connected: true }));
    events.onerror = () => setSnapshot((s) => ({ ...s, connected: false }));
    return () => events.close();
  }, []);
  return snapshot;
}

function App() {
  const snapshot = useSnapshots();
  const route = useRoute();
  return html`
    <header>
      <h1><a href="#/">MatrixInfer</a></h1>
      <span class="muted" data-testid="connection">${snapshot.connected ? `live · ${new Date(snapshot.at).toLocaleTimeString()}` : 'connecting…'}</span>
    </header>
    <main>
      ${route ? html`<${ModelPage} key=${route.namespace + '/' + route.name} route=${route} at=${snapshot.at} />` : html`<${ModelsPage} models=${snapshot.models} />`}
    </main>`;
}

function ModelsPage({ models }) {
  if (!models) return html`<p class="muted">Loading…</p>`;
  if (models.length === 0) return html`<p class="muted" data-testid="no-models">No models yet. Apply one, e.g. <code>matrixinfer apply -f examples/…</code></p>`;
  return html`
    <h2>Models</h2>
    <table data-testid="models">
      <thead><tr>
        <th>Namespace</th><th>Name</th><th>Phase</th><th>Lifecycle</th><th>Version</th><th class="num">Ready / desired</th><th>Download</th>
        <th>Autoscaler</th><th class="num">Req/s</th><th class="num">TTFT p99</th><th class="num">Tokens/s</th>
      </tr></thead>
      <tbody>
        ${models.map(
          (m) => html`
          <tr class="link" data-testid=${`model-row-${m.namespace}-${m.name}`} onClick=${() => (location.hash = `#/${encodeURIComponent(m.namespace)}/${encodeURIComponent(m.name)}`)}>
            <td>${m.namespace}</td>
            <td><a href=${`#/${encodeURIComponent(m.namespace)}/${encodeURIComponent(m.name)}`}>${m.name}</a>${m.base ? html` <span class="muted">(adapter of ${m.base})</span>` : ''}</td>
            <td class=${`phase phase-${m.phase}`} data-testid="phase">${m.phase}</td>
            <td>${m.lifecycle ?? '–'}</td>
            <td>${m.version ?? '–'}${m.revision ? html` <span class="muted">r${m.revision}</span>` : ''}</td>
            <td class="num" data-testid="replicas">${m.ready} / ${m.desired}</td>
            <td data-testid="download" title=${m.downloadError ?? ''} class=${m.downloadError ? 'phase phase-Failed' : ''}>${m.download ?? '–'}</td>
            <td>${m.autoscaler ? (m.autoscaler.mode ?? '–') : html`<span class="muted">none</span>`}</td>
            <td class="num" data-testid="rps">${fmt(m.live.rps)}</td>
            <td class="num">${ms(m.live.ttft_p99)}</td>
            <td class="num">${fmt(m.live.tokens_out, 1)}</td>
          </tr>`,
        )}
      </tbody>
    </table>`;
}

function ModelPage({ route, at }) {
  const [detail, setDetail] = useState(undefined);
  const [series, setSeries] = useState(undefined);
  const [error, setError] = useState(undefined);
  const [windowText, setWindow] = useState('15m');
  const base = `/api/v1/models/${encodeURIComponent(route.namespace)}/${encodeURIComponent(route.name)}`;
  // Refetch on every snapshot (each scrape period) and when the window changes.
  useEffect(() => {
    let live = true;
    Promise.all([getJson(base), getJson(`${base}/timeseries?window=${windowText}`)])
      .then(([d, s]) => live && (setDetail(d), setSeries(s), setError(undefined)))
      .catch((e) => live && setError(e.message));
    return () => (live = false);
  }, [at, windowText, base]);
  if (error && !detail) return html`<p class="muted" data-testid="error">${error}</p>`;
  if (!detail || !series) return html`<p class="muted">Loading…</p>`;
  const m = detail.model;
  const live = m.live;
  return html`
    <h2><a href="#/">Models</a> / ${m.namespace} / ${m.name}
      <span class=${`phase phase-${m.phase}`} data-testid="detail-phase"> ${m.phase}</span></h2>
    <div class="muted">${m.lifecycle ?? ''} · version ${m.version ?? '–'} · ${m.ready}/${m.desired} ready${m.download ? ` · download ${m.download}` : ''}${m.downloadError ? ` (${m.downloadError})` : ''}</div>
    <div class="figures">
      <${Figure} id="rps" label="requests/s" value=${fmt(live.rps)} />
      <${Figure} id="errors" label="errors/s" value=${fmt(live.errors)} />
      <${Figure} id="ttft-p50" label="TTFT p50" value=${ms(live.ttft_p50)} />
      <${Figure} id="ttft-p99" label="TTFT p99" value=${ms(live.ttft_p99)} />
      <${Figure} id="itl-p99" label="ITL p99" value=${ms(live.itl_p99)} />
      <${Figure} id="tokens-out" label="output tokens/s" value=${fmt(live.tokens_out, 1)} />
      <${Figure} id="inflight" label="in flight" value=${fmt(live.inflight, 0)} />
    </div>
    <h2>Pods</h2>
    <${Pods} pods=${detail.pods} />
    <h2>Over time <span class="muted">
      ${WINDOWS.map((w) => html` <a href="javascript:void 0" data-testid=${`window-${w}`} onClick=${() => setWindow(w)} style=${w === windowText ? 'font-weight:700' : ''}>${w}</a>`)}
    </span></h2>
    <${Charts} series=${series} autoscaler=${detail.autoscaler} />`;
}

function Figure({ id, label, value }) {
  return html`<div class="figure"><div class="value" data-testid=${`figure-${id}`}>${value}</div><div class="label">${label}</div></div>`;
}

function Pods({ pods }) {
  if (pods.length === 0) return html`<p class="muted" data-testid="no-pods">No pods.</p>`;
  return html`
    <table data-testid="pods">
      <thead><tr><th>Pod</th><th>Role</th><th>State</th><th>Node</th><th class="num">Restarts</th><th class="num">Req/s</th><th class="num">Running</th><th class="num">Waiting</th><th class="num">KV cache</th><th class="num">Prefix hits</th></tr></thead>
      <tbody>
        ${pods.map(
          (p) => html`
          <tr data-testid="pod-row">
            <td>${p.name}</td><td>${p.role ?? '–'}</td>
            <td class=${`phase phase-${p.ready ? 'Ready' : p.phase}`}>${p.ready ? 'Ready' : p.phase}${p.warm ? ' (warm)' : ''}</td>
            <td>${p.node ?? '–'}</td><td class="num">${p.restarts}</td>
            <td class="num">${fmt(p.live.rps)}</td><td class="num">${fmt(p.live.running, 0)}</td><td class="num">${fmt(p.live.waiting, 0)}</td>
            <td class="num">${pct(p.live.kv)}</td><td class="num">${pct(p.live.prefix)}</td>
          </tr>`,
        )}
      </tbody>
    </table>`;
}

/** The columns whose name starts with `prefix`, as [label, values] pairs (per-pod and per-route series). */
function family(columns, prefix) {
  return Object.keys(columns)
    .filter((k) => k.startsWith(prefix))
    .sort()
    .map((k) => [k.slice(prefix.length), columns[k]]);
}

const scaled = (values, by) => values?.map((v) => (v === null ? null : v * by));

function Charts({ series, autoscaler }) {
  const c = series.columns;
  const t = series.t;
  if (t.length < 2) return html`<p class="empty" data-testid="no-series">Collecting… (a point every scrape period)</p>`;
  const line = (label, values, extra = {}) => (values ? [{ label, ...extra }, values] : undefined);
  const perPod = (prefix, by = 1) => family(c, prefix).map(([pod, v]) => line(pod, scaled(v, by)));
  return html`
    <div class="charts">
      <${Timeline} t=${t} c=${c} decisions=${series.decisions} autoscaler=${autoscaler} />
      <${Chart} id="traffic" title="Requests per second" t=${t} lines=${[line('requests/s', c.rps), line('errors/s', c.errors)]} />
      <${Chart} id="ttft" title="Time to first token (ms)" t=${t} lines=${[line('p50', scaled(c.ttft_p50, 1000)), line('p90', scaled(c.ttft_p90, 1000)), line('p99', scaled(c.ttft_p99, 1000))]} />
      <${Chart} id="itl" title="Inter-token latency (ms)" t=${t} lines=${[line('p50', scaled(c.itl_p50, 1000)), line('p99', scaled(c.itl_p99, 1000))]} />
      <${Chart} id="tokens" title="Tokens per second" t=${t} lines=${[line('prompt', c.tokens_in), line('completion', c.tokens_out)]} />
      <${Chart} id="kv" title="KV-cache usage per pod (%)" t=${t} lines=${perPod('kv:', 100)} />
      <${Chart} id="prefix" title="Prefix-cache hit rate per pod (%)" t=${t} lines=${perPod('prefix:', 100)} />
      <${Chart} id="pod-rps" title="Requests per second per pod (the gateway's picks)" t=${t} lines=${perPod('pod_rps:')} />
      <${Chart} id="routing" title="Routing decisions per second, by pod and scorer" t=${t} lines=${family(c, 'route:').map(([k, v]) => line(k.replace(':', ' · '), v))}
        empty="No routing-decision series from the gateway yet." />
    </div>`;
}

/** A uPlot chart of `lines` ([options, values] pairs; undefined ones skipped) over times `t`. */
function Chart({ id, title, t, lines, wide, empty, extraOptions, overlay, children }) {
  const present = lines.filter(Boolean);
  return html`
    <div class=${`chart${wide ? ' wide' : ''}`} data-testid=${`chart-${id}`}>
      <h3>${title}</h3>
      ${present.length === 0 ? html`<p class="empty">${empty ?? 'No data yet.'}</p>` : html`<${Plot} t=${t} lines=${present} extraOptions=${extraOptions} overlay=${overlay} />`}
      ${children}
    </div>`;
}

/** `overlay` is what the drawing hooks read (u.overlay): fresh at every render, while the plot lives on. */
function Plot({ t, lines, extraOptions, overlay }) {
  const el = useRef(null);
  const plot = useRef(null);
  const shape = lines.map(([o]) => o.label).join('|');
  useEffect(() => {
    const width = Math.max(300, el.current.clientWidth || 400);
    const options = {
      width,
      height: 200,
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true } },
      series: [{}, ...lines.map(([o], i) => ({ stroke: PALETTE[i % PALETTE.length], width: 1.5, spanGaps: false, ...o }))],
      axes: [{}, { size: 50 }],
      ...(extraOptions ?? {}),
    };
    plot.current = new uPlot(options, [t, ...lines.map(([, v]) => v)], el.current);
    plot.current.overlay = overlay;
    const resize = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(300, el.current.clientWidth), height: 200 }));
    resize.observe(el.current);
    return () => {
      resize.disconnect();
      plot.current.destroy();
      plot.current = null;
    };
  }, [shape]);
  useEffect(() => {
    if (!plot.current) return;
    plot.current.overlay = overlay;
    plot.current.setData([t, ...lines.map(([, v]) => v)]);
  });
  return html`<div ref=${el} />`;
}

/**
 * The autoscaler timeline: replicas (current, desired, ready: step lines; min and max dashed), the driving signal
 * against its target and the forecast on a second axis, the mode as coloured bands behind, and a vertical marker
 * per scaling decision (listed below with its reason).
 */
function Timeline({ t, c, decisions, autoscaler }) {
  if (!autoscaler) return html`<div class="chart wide" data-testid="chart-autoscaler"><h3>Autoscaler</h3><p class="empty">No AutoscalingPolicyBinding scales this model.</p></div>`;
  const step = { paths: uPlot.paths.stepped({ align: 1 }) };
  const metric = autoscaler.status?.currentMetrics?.[0];
  const lines = [
    c.as_current && [{ label: 'current', ...step, stroke: '#2563eb', width: 2 }, c.as_current],
    c.as_desired && [{ label: 'desired', ...step, stroke: '#d97706', width: 2, dash: [6, 3] }, c.as_desired],
    c.as_ready && [{ label: 'ready', ...step, stroke: '#16a34a', width: 2 }, c.as_ready],
    c.as_min && [{ label: 'min', ...step, stroke: '#9ca3af', width: 1, dash: [2, 4] }, c.as_min],
    c.as_max && [{ label: 'max', ...step, stroke: '#6b7280', width: 1, dash: [2, 4] }, c.as_max],
    c.as_value && [{ label: metric ? metric.name : 'signal', scale: 'signal', stroke: '#7c3aed', width: 1.5 }, c.as_value],
    c.as_target && [{ label: 'target (× ready for sums)', scale: 'signal', stroke: '#7c3aed', width: 1, dash: [4, 4] }, c.as_target],
    c.as_forecast && [{ label: 'forecast', scale: 'signal', stroke: '#db2777', width: 1.5, dash: [1, 3] }, c.as_forecast],
  ].filter(Boolean);
  const overlay = { modes: c.as_mode ?? [], marks: decisions.map((d) => d.at / 1000) };
  const signal = lines.some(([o]) => o.scale === 'signal');
  const extraOptions = {
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max) + 1] }, ...(signal ? { signal: { range: (u, min, max) => [0, Math.max(1e-9, max) * 1.15] } } : {}) },
    axes: [{}, { label: 'replicas', size: 50 }, ...(signal ? [{ scale: 'signal', side: 1, grid: { show: false }, size: 50 }] : [])],
    hooks: {
      // Behind the series: a band per run of one mode.
      drawAxes: [
        (u) => {
          const { ctx, bbox } = u;
          const t = u.data[0];
          const { modes } = u.overlay;
          ctx.save();
          for (let i = 0; i < t.length; i++) {
            const mode = MODES[modes[i]];
            if (!mode) continue;
            const x0 = u.valToPos(t[i], 'x', true);
            const x1 = i + 1 < t.length ? u.valToPos(t[i + 1], 'x', true) : bbox.left + bbox.width;
            ctx.fillStyle = MODE_COLOURS[mode] + '26';
            ctx.fillRect(x0, bbox.top, Math.max(1, x1 - x0), bbox.height);
          }
          ctx.restore();
        },
      ],
      // Over the series: a vertical line per decision.
      draw: [
        (u) => {
          const { ctx, bbox } = u;
          const t = u.data[0];
          ctx.save();
          ctx.strokeStyle = '#111827';
          ctx.setLineDash([3, 3]);
          ctx.lineWidth = 1.5;
          for (const x of u.overlay.marks) {
            if (x < t[0] || x > t[t.length - 1] + 60) continue;
            const px = u.valToPos(x, 'x', true);
            ctx.beginPath();
            ctx.moveTo(px, bbox.top);
            ctx.lineTo(px, bbox.top + bbox.height);
            ctx.stroke();
          }
          ctx.restore();
        },
      ],
    },
  };
  const status = autoscaler.status ?? {};
  return html`
    <${Chart} id="autoscaler" wide title=${`Autoscaler · ${autoscaler.name} · now ${status.mode ?? '–'}, ${status.currentReplicas ?? '–'} → ${status.desiredReplicas ?? '–'} replicas`}
      t=${t} lines=${lines} extraOptions=${extraOptions} overlay=${overlay}>
      <div class="bands">${MODES.map((m) => html`<span style=${`--c:${MODE_COLOURS[m]}66`}>${m}</span>`)}<span style="--c:#111827">decision</span></div>
      ${decisions.length === 0
        ? html`<p class="muted decisions" data-testid="no-decisions">No scaling decision in this window.</p>`
        : html`<ol class="decisions" data-testid="decisions">
            ${decisions
              .slice()
              .reverse()
              .map((d) => html`<li data-testid="decision-marker">${new Date(d.at).toLocaleTimeString()} · ${d.from} → ${d.to} · ${d.reason}</li>`)}
          </ol>`}
    <//>`;
}

const root = document.getElementById('app');
root.textContent = '';
render(html`<${App} />`, root);
