// The training timeline's curves on a canvas, as gan.serving.timeline_view.curves_png draws
// them: two panels (how good: the Fréchet distance on a log axis, class accuracy and coverage
// on 0-1; the game: D's realness of real and of generated digits), only the measured points
// (null = not measured, never drawn or bridged by a made-up value), and a dashed marker at the
// shown step.

const COLORS = { frechet: "#d62728", accuracy: "#1f77b4", coverage: "#2ca02c", d_real: "#1f77b4", d_fake: "#ff7f0e" };
const PANELS = [
  { title: "how good", legend: "center right", left: { name: "frechet", label: "Fréchet distance", log: true, axis: "Fréchet distance (log)" },
    right: { axis: "accuracy, coverage", min: 0, max: 1.02,
             series: [{ name: "accuracy", label: "class accuracy" }, { name: "coverage", label: "coverage" }] } },
  { title: "the game", legend: "lower right", right: null,
    left: { axis: "D's mean realness", min: 0, max: 1,
            series: [{ name: "d_real", label: "D(real)" }, { name: "d_fake", label: "D(generated)" }] } },
];

/** Round tick values for min..max (about `count` of them). */
function ticks(min, max, count = 5) {
  if (!(max > min)) return [min];
  const raw = (max - min) / count, power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw);
  const out = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) out.push(Math.round(v / step) * step);
  return out;
}

const label = (v) => (Math.abs(v) >= 1000 ? `${+(v / 1000).toFixed(1)}k` : `${+v.toFixed(2)}`);

/** The measured points of one curve: [[step, value], ...] (null and non-finite values left out). */
export function measured(metrics, name, usable = () => true) {
  return metrics.filter((m) => typeof m[name] === "number" && Number.isFinite(m[name]) && usable(m[name]))
    .map((m) => [m.step, m[name]]);
}

/** Draws the curves of `metrics` (the timeline's per-frame dicts) with a marker at frame
 * `index`; returns what was drawn ({panels: [{title, series: {name: points}}], marker: step})
 * and keeps it in canvas.dataset.curves for scripts and tests. */
export function drawCurves(canvas, metrics, index) {
  const ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height, gap = 24, panelW = (W - gap) / PANELS.length;
  const steps = metrics.map((m) => m.step);
  const xMin = Math.min(...steps), xMax = Math.max(...steps) > xMin ? Math.max(...steps) : xMin + 1;
  ctx.save();
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, W, H);
  const summary = { panels: [], marker: metrics[index]?.step ?? null };
  PANELS.forEach((panel, p) => {
    const box = { x: p * (panelW + gap) + 58, y: 26, w: panelW - 58 - (panel.right ? 52 : 10), h: H - 26 - 44 };
    const X = (step) => box.x + ((step - xMin) / (xMax - xMin)) * box.w;
    const drawn = {};
    ctx.strokeStyle = "#c8cad3";
    ctx.lineWidth = 1;
    ctx.strokeRect(box.x, box.y, box.w, box.h);
    ctx.fillStyle = "#1d1d24";
    ctx.font = "13px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.fillText(panel.title, box.x + box.w / 2, 16);
    ctx.font = "11px system-ui, sans-serif";
    for (const t of ticks(xMin, xMax)) {
      ctx.fillText(label(t), X(t), box.y + box.h + 14);
      ctx.strokeStyle = "#eceef3";
      ctx.beginPath(); ctx.moveTo(X(t), box.y); ctx.lineTo(X(t), box.y + box.h); ctx.stroke();
    }
    ctx.fillText("step", box.x + box.w / 2, box.y + box.h + 30);
    const legend = [];
    for (const [side, axis] of [["left", panel.left], ["right", panel.right]]) {
      if (!axis) continue;
      const series = axis.series ?? [axis];
      let min = axis.min, max = axis.max;
      const points = Object.fromEntries(series.map((s) => [s.name, measured(metrics, s.name, axis.log ? (v) => v > 0 : undefined)]));
      if (axis.log) {
        const logs = Object.values(points).flat().map(([, v]) => Math.log10(v));
        min = logs.length ? Math.min(...logs) : 0;
        max = logs.length ? Math.max(...logs) : 1;
        const pad = Math.max(0.1, (max - min) * 0.08);
        min -= pad; max += pad;
      }
      const Y = (v) => box.y + box.h - (((axis.log ? Math.log10(v) : v) - min) / (max - min)) * box.h;
      ctx.fillStyle = "#5d6070";
      ctx.textAlign = side === "left" ? "right" : "left";
      const tx = side === "left" ? box.x - 4 : box.x + box.w + 4;
      const values = axis.log ? ticks(min, max, 4).map((t) => 10 ** t) : ticks(min, Math.min(max, 1), 4);
      for (const v of values) ctx.fillText(axis.log ? `${+v.toPrecision(2)}` : label(v), tx, Y(v) + 4);
      ctx.save();
      ctx.translate(side === "left" ? box.x - 44 : box.x + box.w + 44, box.y + box.h / 2);
      ctx.rotate(-Math.PI / 2);
      ctx.textAlign = "center";
      ctx.fillText(axis.axis ?? axis.label, 0, 0);
      ctx.restore();
      for (const s of series) {
        const pts = points[s.name], color = COLORS[s.name];
        drawn[s.name] = pts;
        legend.push({ text: pts.length ? s.label : `${s.label} (not measured)`, color });
        if (!pts.length) continue;
        ctx.strokeStyle = color; ctx.fillStyle = color; ctx.lineWidth = 1.5;
        ctx.beginPath();
        pts.forEach(([step, v], i) => (i ? ctx.lineTo(X(step), Y(v)) : ctx.moveTo(X(step), Y(v))));
        ctx.stroke();
        for (const [step, v] of pts) { ctx.beginPath(); ctx.arc(X(step), Y(v), 2.5, 0, 2 * Math.PI); ctx.fill(); }
      }
    }
    if (summary.marker !== null) {
      ctx.strokeStyle = "#000"; ctx.lineWidth = 1; ctx.setLineDash([5, 4]);
      ctx.beginPath(); ctx.moveTo(X(summary.marker), box.y); ctx.lineTo(X(summary.marker), box.y + box.h); ctx.stroke();
      ctx.setLineDash([]);
    }
    ctx.textAlign = "left";
    ctx.font = "11px system-ui, sans-serif";
    const legendW = 26 + Math.max(...legend.map((entry) => ctx.measureText(entry.text).width)) + 6, legendH = legend.length * 14 + 4;
    const lx = box.x + box.w - legendW - 6;
    const ly = panel.legend === "lower right" ? box.y + box.h - legendH - 6 : box.y + (box.h - legendH) / 2;
    ctx.fillStyle = "rgba(255,255,255,0.85)";
    ctx.fillRect(lx, ly, legendW, legendH);
    legend.forEach((entry, i) => {
      const y = ly + 13 + i * 14;
      ctx.fillStyle = entry.color;
      ctx.fillRect(lx + 6, y - 5, 14, 3);
      ctx.fillStyle = "#1d1d24";
      ctx.fillText(entry.text, lx + 24, y);
    });
    summary.panels.push({ title: panel.title, series: drawn });
  });
  ctx.restore();
  canvas.dataset.curves = JSON.stringify(summary);
  canvas.dataset.paints = String(Number(canvas.dataset.paints || 0) + 1);
  return summary;
}
