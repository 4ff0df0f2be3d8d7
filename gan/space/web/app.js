// The page: the Gradio app's tabs (Generate, Grid, Interpolate, Explore, Draw, About) on top
// of the engine, and the engine as `window.DigitGAN` for scripts. The inputs' ranges, steps and
// start values, and every check's limits, come from site.json's constants (see engine.js).

import { DrawingError, Engine, InputError, Limits, SiteError, Unreadable } from "./engine.js";
import { encodePng, upscale } from "./png.js";
import { Pictures, editSpec, frameMs, pyFloat } from "./pictures.js";

const $ = (id) => document.getElementById(id);
let engine = null, limits = null, pictures = null;
let side = 0;   // the generator's images are side x side pixels (its config's img_size)

// ----------------------------------------------------------------------------- messages

function say(element, text, kind = "error") {
  element.textContent = text;
  element.className = text ? `message ${kind}` : "message";
}

function explain(error) {
  if (error instanceof InputError || error instanceof DrawingError || error instanceof SiteError) return error.message;
  return `Something went wrong: ${error?.message ?? error}. Reload the page to start again.`;
}

function showStatus(text, kind = "") {
  const status = $("status");
  status.textContent = text;
  status.className = `status ${kind}`;
}

window.addEventListener("error", (event) => showStatus(explain(event.error ?? event.message), "error"));
window.addEventListener("unhandledrejection", (event) => showStatus(explain(event.reason), "error"));

// ----------------------------------------------------------------------------- controls

function digitPicker(id, onChange) {
  const box = $(id);
  for (let d = 0; d < limits.numClasses; d++) {
    const label = document.createElement("label");
    label.innerHTML = `<input type="radio" name="${id}" value="${d}"${String(d) === box.dataset.value ? " checked" : ""}><span>${d}</span>`;
    box.append(label);
  }
  box.addEventListener("change", onChange);
  return () => Number(box.querySelector("input:checked").value);
}

function number(input) {
  const text = input.value.trim();
  if (text === "") return new Unreadable(input.validity?.badInput ? "text" : "nothing");
  return Number(text);
}

const seedOf = (id, name = "seed") => limits.seed(number($(id)), name);

/** A psi slider with its number box; both stay in step, the box is checked. */
function psiControl(id, onChange) {
  const box = $(id), range = $(`${id}-range`);
  const inRange = (v) => v >= 0 && v <= limits.inputs.max_truncation;
  range.addEventListener("input", () => { box.value = range.value; onChange(); });
  box.addEventListener("input", () => { if (box.value !== "" && inRange(Number(box.value))) range.value = box.value; onChange(); });
  return () => limits.psi(number(box));
}

/** Each input's range, step and start value from site.json's constants, by its data-limit;
 * the hints and choices that name them. */
function applyLimits(constants) {
  const { inputs, render } = constants;
  const rules = {
    seed: { min: 0, max: inputs.max_seed, step: 1 },
    grid: { min: 1, max: inputs.max_grid, step: 1, value: inputs.default_grid },
    steps: { min: inputs.min_steps, max: inputs.max_steps, step: 1, value: inputs.default_steps },
    psi: { min: 0, max: inputs.max_truncation, step: inputs.truncation_step, value: inputs.default_truncation },
  };
  document.querySelectorAll("input[data-limit]").forEach((input) => {
    const rule = rules[input.dataset.limit];
    if (!rule) throw new SiteError(`the page's input ${input.id} follows no known limit (${input.dataset.limit})`);
    for (const key of ["min", "max", "step"]) input.setAttribute(key, String(rule[key]));
    if (rule.value !== undefined) input.value = String(rule.value);
  });
  document.querySelectorAll("[data-hint=seed-range]").forEach((hint) => {
    hint.textContent = `0 to ${inputs.max_seed.toLocaleString("en")}`;
  });
  for (const mode of render.grid_modes.slice(0, 2)) $("grid-mode").append(new Option(mode, mode));
  $("grid-digit-legend").textContent = `Digit (for “${render.grid_modes[1]}”)`;
  $("draw-digit").append(new Option(inputs.auto_digit, inputs.auto_digit));
}

/** gan.inputs.random_seed: a seed drawn evenly from 0..max_seed by the browser's CSPRNG. */
function randomSeed() {
  const count = limits.inputs.max_seed + 1, fair = Math.floor(2 ** 32 / count) * count;
  let value;
  do { value = crypto.getRandomValues(new Uint32Array(1))[0]; } while (value >= fair);
  return value % count;
}

document.addEventListener("click", (event) => {
  const dice = event.target.closest?.(".dice");
  if (!dice) return;
  const input = $(dice.dataset.for);
  input.value = String(randomSeed());
  input.dispatchEvent(new Event("input", { bubbles: true }));
});

/** Always-last updates: while one runs, further calls only mark it to run once more. */
function live(update) {
  let running = false, again = false;
  const run = async () => {
    if (running) { again = true; return; }
    running = true;
    try {
      do { again = false; await update(); } while (again);
    } finally { running = false; }
  };
  return run;
}

// ----------------------------------------------------------------------------- pictures

function paint(canvas, pixels, width = side, height = side) {
  if (canvas.width !== width || canvas.height !== height) { canvas.width = width; canvas.height = height; }
  const image = new ImageData(width, height);
  for (let i = 0; i < width * height; i++) {
    const v = pixels[i];
    image.data[4 * i] = v; image.data[4 * i + 1] = v; image.data[4 * i + 2] = v; image.data[4 * i + 3] = 255;
  }
  canvas.getContext("2d").putImageData(image, 0, 0);
  canvas.dataset.paints = String(Number(canvas.dataset.paints || 0) + 1);
  canvas.dataset.paintedAt = String(performance.now());
}

/** What a download button saves: the picture at display size and its provenance. */
const downloads = new Map();

function offer(buttonId, picture) {
  downloads.set(buttonId, picture);
  $(buttonId).disabled = false;
}

async function download(buttonId) {
  const p = downloads.get(buttonId);
  if (!p) return;
  const blob = await encodePng(upscale(p.pixels, p.width, p.height, p.scale), p.width * p.scale,
                               p.height * p.scale, pictures.provenance(engine.fingerprint, { ...p.fields, scale: p.scale }));
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = `${p.stem}_${engine.fingerprint.slice(0, 8)}.png`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

document.addEventListener("click", (event) => {
  const button = event.target.closest?.("button.download");
  if (button) download(button.id).catch((error) => showStatus(explain(error), "error"));
});

/** Plays frames forward and back on a 28x28 canvas (the GIF of the app). */
class Loop {
  constructor(canvas) { this.canvas = canvas; this.timer = null; }
  play(frames, steps) {
    clearInterval(this.timer);
    const order = [...Array(steps).keys()];
    if (steps > 2) order.push(...[...Array(steps - 2).keys()].map((i) => steps - 2 - i));
    let at = 0;
    const size = side * side;
    const show = () => { paint(this.canvas, frames.subarray(order[at] * size, (order[at] + 1) * size)); at = (at + 1) % order.length; };
    show();
    this.timer = setInterval(show, frameMs(steps));
  }
}

function showStrip(canvasId, frames) {
  const strip = pictures.stripOf(frames);
  paint($(canvasId), strip.pixels, strip.width, strip.height);
  return strip;
}

// ----------------------------------------------------------------------------- tabs

function generateTab() {
  const message = $("gen-message");
  const update = live(async () => {
    try {
      const digit = digitOf(), seed = seedOf("gen-seed"), psi = psiOf();
      const pixels = await engine.generate([digit], [seed], { psi });
      paint($("gen-image"), pixels);
      say(message, "");
      offer("gen-download", { pixels, width: side, height: side, scale: pictures.digitScale, stem: `digit${digit}_seed${seed}_psi${psi}`,
        fields: { digit, seed, truncation_psi: pyFloat(psi), Description: `digit ${digit}, seed ${seed}, truncation psi ${pyFloat(psi)}` } });
    } catch (error) { say(message, explain(error)); }
  });
  const digitOf = digitPicker("gen-digit", update);
  const psiOf = psiControl("gen-psi", update);
  $("gen-seed").addEventListener("input", update);
  return update;
}

function gridTab() {
  const message = $("grid-message");
  const update = live(async () => {
    try {
      const rows = limits.gridSide(number($("grid-rows")), "rows"), cols = limits.gridSide(number($("grid-cols")), "cols");
      const seed = seedOf("grid-seed"), mode = $("grid-mode").value, digit = digitOf(), psi = psiOf();
      const { digits, seeds } = pictures.gridCells(rows, cols, seed, mode, digit);
      const images = await engine.generate(digits, seeds, { psi });
      const grid = pictures.makeGrid(images, rows, cols);
      paint($("grid-image"), grid.pixels, grid.width, grid.height);
      say(message, "");
      offer("grid-download", { ...grid, scale: pictures.fitScale(grid.height, grid.width), stem: `grid${rows}x${cols}_seed${seed}_psi${psi}`,
        fields: { rows, cols, mode, seed, ...(mode === pictures.gridModes[1] ? { digit } : {}), truncation_psi: pyFloat(psi),
                  digits, seeds, layout: `${rows}x${cols} cells of 28x28 px with 2 px padding, row-major`,
                  Description: `${rows}x${cols} grid, ${mode}, base seed ${seed}, truncation psi ${pyFloat(psi)}` } });
    } catch (error) { say(message, explain(error)); }
  });
  const digitOf = digitPicker("grid-digit", update);
  const psiOf = psiControl("grid-psi", update);
  for (const id of ["grid-rows", "grid-cols", "grid-seed", "grid-mode"]) $(id).addEventListener("input", update);
  return update;
}

function interpolateTab() {
  const message = $("interp-message"), loop = new Loop($("interp-loop"));
  const update = live(async () => {
    try {
      const a = digitA(), b = digitB(), seedA = seedOf("interp-seed-a", "seed_a"), seedB = seedOf("interp-seed-b", "seed_b");
      const steps = limits.steps(number($("interp-steps"))), psi = psiOf();
      const method = document.querySelector("input[name=interp-method]:checked").value;
      const frames = await engine.interpolate(a, seedA, b, seedB, steps, { method, psi });
      const strip = showStrip("interp-strip", frames);
      loop.play(frames, steps);
      say(message, "");
      offer("interp-download", { ...strip, scale: pictures.fitScale(strip.height, strip.width),
        stem: `morph${a}s${seedA}-${b}s${seedB}_${method}${steps}_psi${psi}`,
        fields: { digit_a: a, seed_a: seedA, digit_b: b, seed_b: seedB, digits: [a, b], seeds: [seedA, seedB], steps, method,
                  truncation_psi: pyFloat(psi),
                  Description: `${method} from digit ${a} seed ${seedA} to digit ${b} seed ${seedB} in ${steps} steps, truncation psi ${pyFloat(psi)}` } });
    } catch (error) { say(message, explain(error)); }
  });
  const digitA = digitPicker("interp-digit-a", update), digitB = digitPicker("interp-digit-b", update);
  const psiOf = psiControl("interp-psi", update);
  for (const id of ["interp-seed-a", "interp-seed-b", "interp-steps", "interp-method"]) $(id).addEventListener("input", update);
  $("interp-method").addEventListener("change", update);
  return update;
}

function directionSliders(containerId, onInput) {
  const box = $(containerId), m = engine.maxStrength, step = limits.inputs.strength_step;
  for (const d of engine.directions) {
    const effect = d.property && d.effects?.[d.property] !== undefined
      ? `moves ${d.property} by ${d.effects[d.property] >= 0 ? "+" : ""}${d.effects[d.property].toFixed(1)} std of real MNIST at +${engine.measuredAt}`
      : "no single measured effect dominates";
    const rate = typeof d.class_change_rate === "number" ? `; digit changes for ${Math.round(d.class_change_rate * 100)}%` : "";
    const label = document.createElement("label");
    label.className = "strength";
    label.innerHTML = `<span class="name"></span> <output>0.0</output><input type="range" min="${-m}" max="${m}" step="${step}" value="0"><span class="hint"></span>`;
    label.querySelector(".name").textContent = d.label;
    label.querySelector(".hint").textContent = effect + rate;
    const input = label.querySelector("input");
    input.id = `${containerId}-${d.name}`;
    input.dataset.direction = d.name;
    input.addEventListener("input", () => { label.querySelector("output").textContent = Number(input.value).toFixed(1); onInput(); });
    box.append(label);
  }
  return {
    strengths: () => Object.fromEntries([...box.querySelectorAll("input")].map((i) => [i.dataset.direction, Number(i.value)])),
    reset: () => box.querySelectorAll("input").forEach((i) => { i.value = "0"; i.previousElementSibling.textContent = "0.0"; }),
  };
}

function editFields(strengths) {
  return { edit: editSpec(strengths), strengths: Object.values(strengths).map(pyFloat), directions: Object.keys(strengths) };
}

function exploreTab() {
  const message = $("explore-message");
  const update = live(async () => {
    try {
      const digit = digitOf(), seed = seedOf("explore-seed"), psi = psiOf(), strengths = sliders.strengths();
      const fields = editFields(strengths);
      const pixels = await engine.generate([digit], [seed], { psi, strengths });
      paint($("explore-image"), pixels);
      offer("explore-download", { pixels, width: side, height: side, scale: pictures.digitScale, stem: `explore_digit${digit}_seed${seed}`,
        fields: { digit, seed, truncation_psi: pyFloat(psi), ...fields,
                  Description: `digit ${digit}, seed ${seed}, truncation psi ${pyFloat(psi)}, edit ${fields.edit}` } });
      await new Promise(requestAnimationFrame);  // show the edited digit before the row is drawn
      const digits = [...Array(limits.numClasses).keys()];
      const row = showStrip("explore-row", await engine.generate(digits, digits.map(() => seed), { psi, strengths }));
      offer("explore-row-download", { ...row, scale: pictures.fitScale(row.height, row.width), stem: `explore_row_seed${seed}`,
        fields: { digits, seed, truncation_psi: pyFloat(psi), ...fields, Description: `digits 0-9 in the style of seed ${seed}, edited` } });
      say(message, "");
    } catch (error) { say(message, explain(error)); }
  });
  const digitOf = digitPicker("explore-digit", update);
  const psiOf = psiControl("explore-psi", update);
  const sliders = directionSliders("explore-sliders", update);
  $("explore-seed").addEventListener("input", update);
  $("explore-reset").addEventListener("click", () => { sliders.reset(); update(); });
  $("explore-unit").textContent = engine.strengthUnit;
  return update;
}

function drawingPad(canvas, onStroke) {
  const context = canvas.getContext("2d", { willReadFrequently: true });
  let last = null;
  const at = (event) => {
    const box = canvas.getBoundingClientRect();
    return [(event.clientX - box.left) * canvas.width / box.width, (event.clientY - box.top) * canvas.height / box.height];
  };
  const stroke = (from, to) => {
    context.lineCap = "round"; context.lineJoin = "round"; context.strokeStyle = "#000"; context.lineWidth = 22;
    context.beginPath(); context.moveTo(...from); context.lineTo(...to); context.stroke();
  };
  canvas.addEventListener("pointerdown", (event) => {
    canvas.setPointerCapture(event.pointerId);
    last = at(event);
    stroke(last, last);
    canvas.dataset.drawn = "1";
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!last) return;
    const point = at(event);
    stroke(last, point);
    last = point;
  });
  const end = () => { if (last) { last = null; onStroke(); } };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  return () => { context.clearRect(0, 0, canvas.width, canvas.height); delete canvas.dataset.drawn; };
}

function drawTab() {
  const message = $("draw-message"), loop = new Loop($("draw-loop"));
  const target = Number($("draw-target").dataset.value);
  for (let d = 0; d < limits.numClasses; d++) {
    $("draw-digit").append(new Option(String(d), String(d)));
    $("draw-target").append(new Option(String(d), String(d), d === target, d === target));
  }
  let found = null;   // {latent, digit}
  const restyle = live(async () => {
    if (!found) return;
    try {
      const psi = psiOf(), steps = limits.steps(number($("draw-steps"))), target = Number($("draw-target").value);
      const latentText = engine.encodeLatent(found.latent);
      const row = showStrip("draw-row", await engine.restyle(found.latent, { psi }));
      offer("draw-row-download", { ...row, scale: pictures.fitScale(row.height, row.width), stem: "style_row",
        fields: { digits: [...Array(limits.numClasses).keys()], latent: latentText, truncation_psi: pyFloat(psi), edit: "none", strengths: "{}",
                  Description: "one handwriting written as digits 0-9" } });
      const frames = await engine.morph(found.latent, found.digit, target, steps, { psi });
      showStrip("draw-strip", frames);
      loop.play(frames, steps);
      say(message, "");
    } catch (error) { say(message, explain(error)); }
  });
  const search = live(async () => {
    try {
      const choice = $("draw-digit").value;
      const auto = limits.inputs.auto_digit;
      const result = await engine.invert($("draw-canvas"), { digit: choice === auto ? auto : Number(choice) });
      paint($("draw-seen"), result.pixels);
      const ten = await engine.restyle(result.latent, { psi: limits.inputs.default_truncation });
      paint($("draw-found"), ten.subarray(result.digit * side * side, (result.digit + 1) * side * side));
      $("draw-reading").textContent = result.reading
        ? "The classifier reads: " + result.reading.map((r) => `${r.digit} (${(r.probability * 100).toFixed(0)}%)`).join(", ")
        : "";
      $("draw-latent").value = engine.encodeLatent(result.latent);
      found = result;
      await restyle();
    } catch (error) { say(message, explain(error)); }
  });
  const psiOf = psiControl("draw-psi", restyle);
  const clear = drawingPad($("draw-canvas"), search);
  $("draw-clear").addEventListener("click", () => { clear(); say(message, "Draw a digit on the canvas.", "note"); });
  $("draw-digit").addEventListener("change", search);
  $("draw-find").addEventListener("click", search);
  for (const id of ["draw-target", "draw-steps"]) $(id).addEventListener("input", restyle);
  if (!engine.has("encoder")) {
    say(message, "Draw needs the image-to-latent encoder (models/encoder.onnx), which this export does not have.");
  }
  return search;
}

function aboutTab() {
  const card = engine.card, box = $("about");
  const c = engine.config, m = card?.metrics ?? {};
  const pct = (v) => (typeof v === "number" ? `${(v * 100).toFixed(2)}%` : "n/a");
  const num = (v, digits = 3) => (typeof v === "number" ? v.toFixed(digits) : "n/a");
  const lines = [
    `A class-conditional GAN for ${c.img_size}×${c.img_size} grey digits. The generator (${(card?.generator_parameters ?? 0).toLocaleString("en")} parameters) runs in this page with onnxruntime-web; a seed picks the latent z ~ N(0, I) of ${c.z_dim} numbers exactly as the Python library does, so a seed gives the same digit here and there.`,
    `Weights ${engine.fingerprint}; config ${Object.entries(c).map(([k, v]) => `${k}=${v}`).join(", ")}.`,
  ];
  if (card?.training) lines.push(`Training: ${Object.entries(card.training).map(([k, v]) => `${k.replace(/_/g, " ")} ${v}`).join(", ")}.`);
  const metrics = [];
  if ("class_accuracy" in m) metrics.push(`class accuracy (the classifier sees the asked-for digit): <b>${pct(m.class_accuracy)}</b>, worst digit ${pct(m.class_accuracy_min_digit)}`);
  if ("frechet_distance" in m) metrics.push(`Fréchet distance in classifier-feature space: <b>${num(m.frechet_distance, 2)}</b> (real train vs test: ${num(m.frechet_distance_train_vs_test, 2)})`);
  if ("coverage" in m) metrics.push(`coverage: <b>${num(m.coverage)}</b> (real train vs test: ${num(m.coverage_train_vs_test)})`);
  if (m.diversity_ratio_per_digit) metrics.push(`diversity ratio per digit (samples / real): ${Object.entries(m.diversity_ratio_per_digit).map(([d, r]) => `${d}: ${num(r, 2)}`).join(" ")}`);
  if (m.memorisation?.sample_to_train_rms_median !== undefined) metrics.push(`median RMS distance to the nearest training image: ${num(m.memorisation.sample_to_train_rms_median)} (real test images: ${num(m.memorisation.test_to_train_rms_median)})`);
  if ("samples" in m) metrics.push(`measured on ${m.samples} samples, truncation psi ${m.truncation_psi ?? "n/a"}`);
  box.innerHTML = `<h2>About this model</h2>${lines.map((l) => `<p></p>`).join("")}<h3>Evaluation (metrics.json)</h3><ul id="about-metrics"></ul>`;
  box.querySelectorAll("p").forEach((p, i) => { p.textContent = lines[i]; });
  $("about-metrics").innerHTML = metrics.length ? metrics.map((x) => `<li>${x}</li>`).join("") : "<li>no metrics.json was exported with these weights</li>";
}

function setupTabs(updates) {
  const buttons = document.querySelectorAll("#tabs button");
  const show = (name) => {
    buttons.forEach((b) => b.setAttribute("aria-selected", String(b.dataset.tab === name)));
    document.querySelectorAll(".tab").forEach((t) => { t.hidden = t.id !== `tab-${name}`; });
    if (name === "draw") engine.warmDraw();
    updates[name]?.();
  };
  buttons.forEach((b) => b.addEventListener("click", () => show(b.dataset.tab)));
}

// ----------------------------------------------------------------------------- start

async function start() {
  const base = new URL("./", import.meta.url);
  const site = await Engine.readSite(base);
  limits = new Limits(site.constants, site.config);
  side = site.config.img_size;
  pictures = new Pictures(site.constants, side);
  applyLimits(site.constants);
  engine = await Engine.load(base, site);
  api.info = { weights_sha256: engine.fingerprint, config: engine.config,
               directions: engine.directions.map((d) => ({ name: d.name, label: d.label })),
               models: Object.keys(engine.site.models), onnxruntime_web: engine.site.onnxruntime_web.version,
               threads: engine.ort.env.wasm.numThreads };
  document.querySelectorAll("button.download").forEach((b) => { b.disabled = true; });
  const generate = generateTab();
  await generate();
  drawTab();   // Draw waits for a drawing; opening the tab only loads its models
  const updates = { generate, grid: gridTab(), interpolate: interpolateTab(), explore: exploreTab() };
  aboutTab();
  setupTabs(updates);
  showStatus(`Ready: weights ${engine.fingerprint}, running in this browser.`, "ok");
  api.readyAt = performance.now();   // ms since navigation: the first digit is on screen
  document.body.dataset.ready = "1";
  return api;
}

const whenReady = (fn) => async (...args) => { await api.ready; return fn(...args); };
const api = {
  ready: null,
  info: null,
  generate: whenReady((digits, seeds, options) => engine.generate(digits, seeds, options)),
  interpolate: whenReady((a, seedA, b, seedB, steps, options) => engine.interpolate(a, seedA, b, seedB, steps, options)),
  invert: whenReady((pixels, options) => engine.invert(pixels, options)),
  restyle: whenReady((latent, options) => engine.restyle(latent, options)),
  morph: whenReady((latent, a, b, steps, options) => engine.morph(latent, a, b, steps, options)),
  encodeLatent: (latent) => {
    if (!engine) throw new SiteError("the page is still loading: await DigitGAN.ready first");
    return engine.encodeLatent(latent);
  },
};
window.DigitGAN = api;
api.ready = start();
api.ready.catch((error) => {
  showStatus(explain(error), "error");
  document.body.dataset.failed = "1";
});
