// The page: the Gradio app's tabs (Generate, Grid, Interpolate, Explore, Draw, Learn, About) on
// top of the engine, and the engine as `window.DigitGAN` for scripts. The inputs' ranges, steps
// and every check's limits come from site.json's constants (see engine.js); the tabs' start
// values from its views (gan.serving.views.view_spec), which are also what a link may name:
// the page keeps what is on screen in its address (`#tab=explore&digit=2&seed=7&psi=0.8&slant=1.5`).

import { drawCurves } from "./curves.js";
import { DrawingError, Engine, InputError, Limits, SiteError, Unreadable } from "./engine.js";
import { encodePng, upscale } from "./png.js";
import { Pictures, editSpec, frameMs, pyFloat } from "./pictures.js";
import { Views, hashEntries, problemsMessage, pyStrRepr } from "./views.js";

const $ = (id) => document.getElementById(id);
let engine = null, limits = null, pictures = null, views = null;
let side = 0;   // the generator's images are side x side pixels (its config's img_size)
const ABOUT = "about";   // the one tab that is no view: its link is #about

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

/** Radio buttons for digits 0..classes-1: returns the chosen digit's getter; `setDigit(id, d)` sets it. */
function digitPicker(id, onChange) {
  const box = $(id);
  for (let d = 0; d < limits.numClasses; d++) {
    const label = document.createElement("label");
    label.innerHTML = `<input type="radio" name="${id}" value="${d}"><span>${d}</span>`;
    box.append(label);
  }
  box.addEventListener("change", onChange);
  return () => limits.digit(Number(box.querySelector("input:checked")?.value));
}

function setDigit(id, digit) {
  $(id).querySelectorAll("input").forEach((input) => { input.checked = Number(input.value) === digit; });
}

function setPsi(id, psi) {
  $(id).value = String(psi);
  $(`${id}-range`).value = String(psi);
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
  stop() { clearInterval(this.timer); this.timer = null; }
}

function showStrip(canvasId, frames) {
  const strip = pictures.stripOf(frames);
  paint($(canvasId), strip.pixels, strip.width, strip.height);
  return strip;
}

// ----------------------------------------------------------------------------- the view in the address

// What each tab shows: the values (and strengths) of its last picture, which a link reopens.
const shown = {};
const tabs = {};      // tab -> {update, set(values, strengths) -> problems the page adds}
let active = null;    // the tab on screen (null until the first view is opened)

function nonZero(strengths) {
  return Object.fromEntries(Object.entries(strengths ?? {}).filter(([, v]) => v !== 0));
}

/** A tab shows `values`: keep them, and when it is on screen, the address says so. */
function record(tab, values, strengths = {}) {
  shown[tab] = { values: { ...values }, strengths: nonZero(strengths) };
  if (tab === active) syncAddress();
}

function shownView(tab) {
  return shown[tab] ?? { values: views.defaults(tab), strengths: {} };
}

/** The link's parameters of what is on screen (gan.serving.views.view_query). */
function currentQuery() {
  if (active === ABOUT) return ABOUT;
  const view = shownView(active);
  return views.query(active, view.values, view.strengths);
}

/** The view on screen as an object: its tab, the tab's fields and (Explore, Draw) strengths. */
function currentView() {
  if (active === ABOUT) return { tab: ABOUT };
  const view = shownView(active);
  return { tab: active, ...view.values, ...(views.steered.includes(active) ? { strengths: { ...view.strengths } } : {}) };
}

/** The address bar always links to what is on screen: replaced in place, no reload, no history. */
function syncAddress() {
  if (active === null) return;
  const hash = `#${currentQuery()}`;
  if (location.hash !== hash) history.replaceState(history.state, "", hash);
}

function sayView(text) { say($("view-message"), text); }

function showTab(name, { render = true } = {}) {
  active = name;
  document.querySelectorAll("#tabs button").forEach((b) => b.setAttribute("aria-selected", String(b.dataset.tab === name)));
  document.querySelectorAll(".tab").forEach((t) => { t.hidden = t.id !== `tab-${name}`; });
  if (name !== "learn") tabs.learn?.pause();
  if (name === "draw") engine.warmDraw();
  syncAddress();
  return render ? tabs[name]?.update() : undefined;
}

/** Opens the view a hash names (`#tab=...&...` or `#about`): its tab with the link's values,
 * bad ones at their defaults and the problems said (gan.serving.views.parse_view's words).
 * Null when the hash names no view. */
function openAddress(hash) {
  const text = hash.replace(/^#/, "");
  if (text === ABOUT) {
    sayView("");
    return showTab(ABOUT) ?? Promise.resolve();
  }
  let parsed = null;
  try {
    parsed = text ? views.parse(hashEntries(text)) : null;
  } catch (error) {   // never a blank page for a link: say so, and the page stays as it is
    sayView(`This link could not be read (${error.message ?? error}), so the page stays as it was.`);
    return null;
  }
  if (!parsed) return null;
  const values = { ...parsed.values };
  const added = tabs[parsed.tab].set(values, parsed.strengths) ?? [];
  sayView(problemsMessage([...parsed.problems, ...added]));
  shown[parsed.tab] = { values, strengths: nonZero(parsed.strengths) };
  return Promise.resolve(showTab(parsed.tab)).then(() => {   // counted once its tab has drawn it
    document.body.dataset.views = String(Number(document.body.dataset.views || 0) + 1);
  });
}

/** Copy link: to the clipboard where the browser allows it, else selected in a field to copy. */
function copyLinkButton() {
  const field = $("link-text"), note = $("link-note");
  $("copy-link").addEventListener("click", async () => {
    const link = api.link();
    try {
      if (!navigator.clipboard?.writeText) throw new Error("no clipboard");
      await navigator.clipboard.writeText(link);
      field.hidden = true;
      note.textContent = "Link copied";
    } catch {
      field.value = link;
      field.hidden = false;
      field.focus();
      field.select();
      let copied = false;
      try { copied = document.execCommand("copy"); } catch { copied = false; }
      note.textContent = copied ? "Link copied" : "Copy the selected link (Ctrl+C or ⌘C)";
    }
  });
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
      record("generate", { digit, seed, psi });
      offer("gen-download", { pixels, width: side, height: side, scale: pictures.digitScale, stem: `digit${digit}_seed${seed}_psi${psi}`,
        fields: { digit, seed, truncation_psi: pyFloat(psi), Description: `digit ${digit}, seed ${seed}, truncation psi ${pyFloat(psi)}` } });
    } catch (error) { say(message, explain(error)); }
  });
  const digitOf = digitPicker("gen-digit", update);
  const psiOf = psiControl("gen-psi", update);
  $("gen-seed").addEventListener("input", update);
  const set = (values) => {
    setDigit("gen-digit", values.digit);
    $("gen-seed").value = String(values.seed);
    setPsi("gen-psi", values.psi);
  };
  return { update, set };
}

function gridTab() {
  const message = $("grid-message");
  const offered = () => [...$("grid-mode").options].map((o) => o.value);
  const update = live(async () => {
    try {
      const rows = limits.gridSide(number($("grid-rows")), "rows"), cols = limits.gridSide(number($("grid-cols")), "cols");
      const seed = seedOf("grid-seed"), mode = $("grid-mode").value, digit = digitOf(), psi = psiOf();
      const { digits, seeds } = pictures.gridCells(rows, cols, seed, mode, digit);
      const images = await engine.generate(digits, seeds, { psi });
      const grid = pictures.makeGrid(images, rows, cols);
      paint($("grid-image"), grid.pixels, grid.width, grid.height);
      say(message, "");
      record("grid", { rows, cols, mode, digit, seed, psi });
      offer("grid-download", { ...grid, scale: pictures.fitScale(grid.height, grid.width), stem: `grid${rows}x${cols}_seed${seed}_psi${psi}`,
        fields: { rows, cols, mode, seed, ...(mode === pictures.gridModes[1] ? { digit } : {}), truncation_psi: pyFloat(psi),
                  digits, seeds, layout: `${rows}x${cols} cells of 28x28 px with 2 px padding, row-major`,
                  Description: `${rows}x${cols} grid, ${mode}, base seed ${seed}, truncation psi ${pyFloat(psi)}` } });
    } catch (error) { say(message, explain(error)); }
  });
  const digitOf = digitPicker("grid-digit", update);
  const psiOf = psiControl("grid-psi", update);
  for (const id of ["grid-rows", "grid-cols", "grid-seed", "grid-mode"]) $(id).addEventListener("input", update);
  const set = (values) => {
    const problems = [];
    if (!offered().includes(values.mode)) {   // "random digits" is the app's only (numpy's RNG)
      problems.push(`mode must be one of ${offered().map(pyStrRepr).join(", ")} in the browser, got ${pyStrRepr(values.mode)}`);
      values.mode = views.defaults("grid").mode;
    }
    $("grid-rows").value = String(values.rows);
    $("grid-cols").value = String(values.cols);
    $("grid-mode").value = values.mode;
    setDigit("grid-digit", values.digit);
    $("grid-seed").value = String(values.seed);
    setPsi("grid-psi", values.psi);
    return problems;
  };
  return { update, set };
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
      record("interpolate", { digit_a: a, seed_a: seedA, digit_b: b, seed_b: seedB, steps, method, psi });
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
  const set = (values) => {
    setDigit("interp-digit-a", values.digit_a);
    setDigit("interp-digit-b", values.digit_b);
    $("interp-seed-a").value = String(values.seed_a);
    $("interp-seed-b").value = String(values.seed_b);
    $("interp-steps").value = String(values.steps);
    document.querySelectorAll("input[name=interp-method]").forEach((r) => { r.checked = r.value === values.method; });
    setPsi("interp-psi", values.psi);
  };
  return { update, set };
}

/** A slider per named direction; a strength set from a link is kept exactly (a range input
 * would round it to its step) until the slider is moved. */
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
    input.addEventListener("input", () => {
      delete input.dataset.exact;
      label.querySelector("output").textContent = Number(input.value).toFixed(1);
      onInput();
    });
    box.append(label);
  }
  const inputs = () => [...box.querySelectorAll("input")];
  const value = (i) => Number(i.dataset.exact ?? i.value);
  const set = (strengths) => inputs().forEach((i) => {
    const v = strengths[i.dataset.direction] ?? 0;
    i.value = String(v);
    if (v !== 0) i.dataset.exact = String(v); else delete i.dataset.exact;
    i.previousElementSibling.textContent = v.toFixed(1);
  });
  return {
    strengths: () => Object.fromEntries(inputs().map((i) => [i.dataset.direction, value(i)])),
    reset: () => set({}),
    set,
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
      record("explore", { digit, seed, psi }, strengths);
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
  const set = (values, strengths) => {
    setDigit("explore-digit", values.digit);
    $("explore-seed").value = String(values.seed);
    setPsi("explore-psi", values.psi);
    sliders.set(strengths);
  };
  return { update, set };
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

/** A canvas back to nothing shown (a picture canvas at its default size is hidden by the CSS). */
function blank(canvas) {
  if (canvas.classList.contains("picture")) { canvas.width = 300; canvas.height = 150; return; }
  paint(canvas, new Uint8Array(canvas.width * canvas.height), canvas.width, canvas.height);
}

function drawTab() {
  const message = $("draw-message"), loop = new Loop($("draw-loop"));
  // Draw's morph starts where Interpolate's digit B does: the views' default, not a number of the page's
  const target = views.defaults("interpolate").digit_b;
  for (let d = 0; d < limits.numClasses; d++) {
    $("draw-digit").append(new Option(String(d), String(d)));
    $("draw-target").append(new Option(String(d), String(d), d === target, d === target));
  }
  let found = null;   // {latent, digit}
  const restyle = live(async () => {
    try {
      const psi = psiOf(), strengths = sliders.strengths();
      if (!found) { record("draw", { latent: null, psi }, strengths); return; }
      const steps = limits.steps(number($("draw-steps"))), target = Number($("draw-target").value);
      const latentText = engine.encodeLatent(found.latent);
      const row = showStrip("draw-row", await engine.restyle(found.latent, { psi, strengths }));
      const edit = nonZero(strengths);
      offer("draw-row-download", { ...row, scale: pictures.fitScale(row.height, row.width), stem: "style_row",
        fields: { digits: [...Array(limits.numClasses).keys()], latent: latentText, truncation_psi: pyFloat(psi), edit: editSpec(edit),
                  strengths: `{${Object.keys(edit).sort().map((k) => `"${k}": ${pyFloat(edit[k])}`).join(", ")}}`,
                  Description: "one handwriting written as digits 0-9" } });
      const frames = await engine.morph(found.latent, found.digit, target, steps, { psi });
      showStrip("draw-strip", frames);
      loop.play(frames, steps);
      $("tab-draw").classList.remove("waiting");
      $("draw-latent").value = latentText;
      record("draw", { latent: latentText, psi }, strengths);
      say(message, found.linked ? `This handwriting came from a link: here it is as every digit, and morphing from ${found.digit}.` : "",
          found.linked ? "note" : "error");
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
      $("tab-draw").classList.add("searched");
      $("draw-reading").textContent = result.reading
        ? "The classifier reads: " + result.reading.map((r) => `${r.digit} (${(r.probability * 100).toFixed(0)}%)`).join(", ")
        : "";
      found = result;
      await restyle();
    } catch (error) { say(message, explain(error)); }
  });
  const psiOf = psiControl("draw-psi", restyle);
  const sliders = directionSliders("draw-sliders", restyle);
  const clear = drawingPad($("draw-canvas"), search);
  $("draw-clear").addEventListener("click", () => { clear(); say(message, "Draw a digit on the canvas.", "note"); });
  $("draw-digit").addEventListener("change", search);
  $("draw-find").addEventListener("click", search);
  for (const id of ["draw-target", "draw-steps"]) $(id).addEventListener("input", restyle);
  const noEncoder = engine.has("encoder") ? ""
    : "Draw needs the image-to-latent encoder (models/encoder.onnx), which this export does not have.";
  say(message, noEncoder);
  /** A view's latent (from a link): its handwriting, morphing from the digit it is searched as
   * (the first digit when that is the classifier's reading: a link does not say what was drawn). */
  const set = (values, strengths) => {
    setPsi("draw-psi", values.psi);
    sliders.set(strengths);
    found = null;
    for (const id of ["draw-seen", "draw-found", "draw-row", "draw-strip", "draw-loop"]) blank($(id));
    $("tab-draw").classList.add("waiting");      // the placeholder says what will be there
    $("tab-draw").classList.remove("searched");
    loop.stop();
    $("draw-reading").textContent = "";
    $("draw-latent").value = "";
    downloads.delete("draw-row-download");
    $("draw-row-download").disabled = true;
    say(message, noEncoder);
    if (values.latent === null) return [];
    try {
      const choice = $("draw-digit").value;
      found = { latent: engine.checkLatent(values.latent), digit: choice === limits.inputs.auto_digit ? 0 : Number(choice),
                linked: true };
    } catch (error) {
      say(message, `The link's latent cannot be drawn: ${explain(error)}`);
      values.latent = null;
    }
    return [];
  };
  return { update: restyle, set };
}

/** A caption in the app's Markdown (**bold** only) as text with <b> parts. */
function setCaption(element, markdown) {
  element.replaceChildren(...markdown.split("**").map((part, i) =>
    (i % 2 ? Object.assign(document.createElement("b"), { textContent: part }) : document.createTextNode(part))));
}

/** gan.model.timeline.Timeline.index_of's refusal, and nearest_index's frame. */
function notInTimeline(steps, step) {
  let after = steps.findIndex((s) => s >= step);
  if (after < 0) after = steps.length;
  const nearest = [...new Set([after - 1, after].filter((i) => i >= 0 && i < steps.length).map((i) => steps[i]))].sort((a, b) => a - b);
  let index = 0;
  steps.forEach((s, i) => { if (Math.abs(s - step) < Math.abs(steps[index] - step)) index = i; });
  return { index, message: `step ${step} is not in the timeline (its ${steps.length} steps run from ${steps[0]} to ` +
                           `${steps[steps.length - 1]}); the nearest: ${nearest.join(" and ")}` };
}

/** Learn: the training timeline, fetched when the tab is first opened: a step's grid (a row per
 * digit, a column per seed), the curves with a marker at that step, its caption, a player. */
function learnTab() {
  const message = $("learn-message"), slider = $("learn-frame"), play = $("learn-play");
  let timeline = null, timer = null, wanted = null;   // wanted: a link's step (null: the last)
  const pause = () => { clearInterval(timer); timer = null; play.textContent = "▶ Play"; };
  const showFrame = (index) => {
    const [, rows, cols] = timeline.shape, step = timeline.steps[index], seeds = timeline.seeds;
    slider.value = String(index);
    const frame = timeline.frames.subarray(index * timeline.frameSize, (index + 1) * timeline.frameSize);
    const grid = pictures.makeGrid(frame, rows, cols);
    paint($("learn-grid"), grid.pixels, grid.width, grid.height);
    $("learn-step").textContent = step.toLocaleString("en");
    setCaption($("learn-caption"), timeline.captions[index]);
    drawCurves($("learn-curves"), timeline.metrics, index);
    record("learn", { step });
    const last = timeline.steps[timeline.steps.length - 1];
    offer("learn-download", { ...grid, scale: pictures.fitScale(grid.height, grid.width), stem: `timeline_step${step}`,
      fields: { step, rows, cols, mode: pictures.gridModes[0], seed: seeds[0],
                digits: [...Array(rows).keys()].flatMap((d) => seeds.map(() => d)), seeds: [...Array(rows)].flatMap(() => seeds),
                layout: `${rows}x${cols} cells of 28x28 px with 2 px padding, row-major`,
                Description: `the training timeline at step ${step} of ${last}: digits 0-${rows - 1} (rows), seeds ${seeds[0]}-${seeds[seeds.length - 1]} (columns)` } });
  };
  const update = live(async () => {
    try {
      if (!timeline) say(message, "Loading the training timeline…", "note");
      timeline = await engine.timeline();
    } catch (error) {
      pause();
      $("learn-view").hidden = true;
      $("tab-learn").classList.add("empty");
      const entry = engine.site.timeline;
      say(message, entry && !entry.available
        ? `No training timeline for these weights: ${entry.reason}. ${entry.advice}.` : explain(error));
      wanted = null;
      record("learn", { step: null });
      return;
    }
    const count = timeline.steps.length;
    if ($("learn-view").hidden) {
      slider.min = "0"; slider.max = String(count - 1); slider.step = "1";
      slider.value = String(count - 1);
      $("learn-explanation").textContent = timeline.explanation;
      $("learn-view").hidden = false;
      $("tab-learn").classList.remove("empty");
    }
    let index = Number(slider.value), note = "";
    if (wanted !== undefined) {
      index = count - 1;
      if (wanted !== null) {
        index = timeline.steps.indexOf(wanted);
        if (index < 0) ({ index, message: note } = notInTimeline(timeline.steps, wanted));
      }
      wanted = undefined;
    }
    showFrame(index);
    say(message, note);
  });
  slider.addEventListener("input", () => { pause(); update(); });
  play.addEventListener("click", () => {
    if (timer) return pause();
    if (!timeline) return undefined;
    const count = timeline.steps.length;
    if (Number(slider.value) >= count - 1) { slider.value = "0"; update(); }
    play.textContent = "⏸ Pause";
    // about six seconds a pass, 150-600 ms a frame
    timer = setInterval(() => {
      const next = Number(slider.value) + 1;
      if (next >= count) { pause(); return; }
      slider.value = String(next);
      update();
    }, Math.min(600, Math.max(150, Math.round(6000 / count))));
    return undefined;
  });
  const set = (values) => { wanted = values.step; pause(); };
  return { update, set, pause };
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

/** The tabs are the views' (site.json's), each with its button and panel, plus About. */
function setupTabs() {
  const buttons = [...document.querySelectorAll("#tabs button")].map((b) => b.dataset.tab);
  const missing = [...views.tabs, ABOUT].filter((tab) => !buttons.includes(tab) || !$(`tab-${tab}`));
  const unknown = buttons.filter((tab) => tab !== ABOUT && !views.has(tab));
  if (missing.length || unknown.length) {
    throw new SiteError(`the page's tabs (${buttons.join(", ")}) are not the views of site.json ` +
                        `(${views.tabs.join(", ")}); export the site again`);
  }
  document.querySelectorAll("#tabs button").forEach((b) => b.addEventListener("click", () => {
    sayView("");
    showTab(b.dataset.tab);
  }));
  document.querySelector("main").addEventListener("input", () => sayView(""));
  window.addEventListener("hashchange", () => openAddress(location.hash));
}

// ----------------------------------------------------------------------------- start

const MB = (bytes) => (bytes / 1e6).toFixed(1);

/** The loading bar: every file the engine is fetching, with its bytes as they arrive. */
function showProgress(downloads) {
  const files = Object.values(downloads);
  const loaded = files.reduce((sum, f) => sum + f.loaded, 0);
  const total = files.reduce((sum, f) => sum + (f.total ?? f.loaded), 0);
  const bar = $("load-progress");
  if (total > 0) { bar.max = total; bar.value = loaded; }
  $("load-files").textContent = files.map((f) => (f.done ? `${f.what} ${MB(f.loaded)} MB ✓`
    : `${f.what} ${MB(f.loaded)}${f.total ? ` of ${MB(f.total)}` : ""} MB`)).join(" · ");
}

function doneLoading() { $("loading").hidden = true; }

/** The pre-rendered digit (preview.png, the default view drawn by Python) stays until the
 * engine draws; a link to another Generate view takes it away, as it is not that view. */
function keepPreview(site) {
  const preview = $("gen-preview");
  if (!preview) return;
  let parsed = null;
  const hash = location.hash.replace(/^#/, "");
  try { parsed = hash && hash !== ABOUT ? views.parse(hashEntries(hash)) : null; } catch { parsed = null; }
  const wanted = site.preview?.view;
  const same = wanted && (!parsed || parsed.tab !== site.preview.tab
                          || Object.entries(wanted).every(([k, v]) => parsed.values[k] === v));
  if (!same) preview.remove();
}

/** Once the first view is up and the browser is idle: Draw's models, so the tab is quick. */
function warmWhenIdle() {
  const idle = globalThis.requestIdleCallback ?? ((fn) => setTimeout(fn, 500));
  idle(() => engine.warmDraw(), { timeout: 5000 });
}

async function start() {
  const base = new URL("./", import.meta.url);
  const site = await Engine.readSite(base);
  limits = new Limits(site.constants, site.config);
  views = new Views(site.views, site.constants);
  side = site.config.img_size;
  pictures = new Pictures(site.constants, side);
  applyLimits(site.constants);
  keepPreview(site);
  engine = await Engine.load(base, site, { progress: showProgress });
  api.info = { weights_sha256: engine.fingerprint, config: engine.config,
               directions: engine.directions.map((d) => ({ name: d.name, label: d.label })),
               models: Object.keys(engine.site.models), onnxruntime_web: engine.site.onnxruntime_web.version,
               threads: engine.ort.env.wasm.numThreads, timeline: Boolean(engine.site.timeline?.available) };
  document.querySelectorAll("button.download").forEach((b) => { b.disabled = true; });
  Object.assign(tabs, { generate: generateTab(), grid: gridTab(), interpolate: interpolateTab(), explore: exploreTab(),
                        draw: drawTab(), learn: learnTab() });
  for (const tab of views.tabs) tabs[tab].set(views.defaults(tab), {});   // the views' start values
  aboutTab();
  setupTabs();
  copyLinkButton();
  // The first digit first: Generate's (with a link's values when the link is to Generate),
  // then the view the address names; nothing else (the timeline) is fetched before.
  const hash = location.hash.replace(/^#/, "");
  let toGenerate = false;
  try { toGenerate = hash !== ABOUT && views.parse(hashEntries(hash))?.tab === "generate"; } catch { toGenerate = false; }
  if (toGenerate) {
    await openAddress(hash);
  } else {
    await tabs.generate.update();
    await (openAddress(hash) ?? showTab("generate", { render: false }));
  }
  showStatus(`Ready: weights ${engine.fingerprint}, running in this browser.`, "ok");
  api.readyAt = performance.now();   // ms since navigation: the view the address names is on screen
  document.body.dataset.ready = "1";
  doneLoading();
  warmWhenIdle();
  return api;
}

function loaded() {
  if (!engine || active === null) throw new SiteError("the page is still loading: await DigitGAN.ready first");
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
  /** The training timeline: {steps, seeds, metrics} (metrics: a dict per frame, null = not measured). */
  timeline: whenReady(async () => {
    const t = await engine.timeline();
    return { steps: [...t.steps], seeds: [...t.seeds], metrics: t.metrics.map((m) => ({ ...m })) };
  }),
  /** Frame i of the timeline: Uint8Array(digits · seeds · 28 · 28), digit-major then seed. */
  timelineFrame: whenReady((index) => engine.timelineFrame(index)),
  /** The view on screen: {tab, ...its fields, strengths (Explore, Draw)}. */
  view: () => { loaded(); return currentView(); },
  /** A full URL that reopens the view on screen. */
  link: () => {
    loaded();
    const url = new URL(location.href);
    url.hash = currentQuery();
    return url.href;
  },
};
window.DigitGAN = api;
api.ready = start();
api.ready.catch((error) => {
  showStatus(explain(error), "error");
  document.body.dataset.failed = "1";
  doneLoading();
});
