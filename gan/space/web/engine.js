// The DigitGAN engine in the browser: the generator (and the Draw tab's classifier and
// encoder) as ONNX models run by onnxruntime-web's WebAssembly backend, with the inputs
// checked by the rules of gan/inputs.py. The page's tabs and `window.DigitGAN` both use it.
//
// Every limit and constant of the Python library that the page works by (the seed range, the
// grid's and the steps' bounds, psi, strengths, the drawing preprocessing, Draw's refinement
// rounds, ...) comes from site.json's "constants", which the export writes from the Python
// modules that define them (gan.space.static_site.PAGE_CONSTANTS): the page holds no copies.

import { interpolationPath, latentFromSeed, latentsFromSeeds, classPath, linspace01 } from "./latents.js";
import { DrawingError, prepareDrawing } from "./drawing.js";

/** A refused input: the message says what is allowed. */
export class InputError extends RangeError {
  constructor(message) { super(message); this.name = "InputError"; }
}

/** A file of the site that is missing, corrupt or unusable. */
export class SiteError extends Error {
  constructor(message) { super(message); this.name = "SiteError"; }
}

export { DrawingError };

/** A form field that holds no number ("nothing" when empty, "text" when unreadable): shown as that. */
export class Unreadable {
  constructor(what) { this.what = what; }
}

function shown(value) {
  if (value instanceof Unreadable) return value.what;
  if (typeof value === "string") return `'${value.length > 40 ? value.slice(0, 40) + "..." : value}'`;
  if (value === null || value === undefined) return String(value);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return Array.isArray(value) ? `a list of ${value.length}` : typeof value;
}

function isNumber(value) { return typeof value === "number" && Number.isFinite(value); }

/** gan.inputs.as_int: a whole number in min..max. */
export function checkInt(value, name, min, max) {
  if (typeof value === "number" && Number.isInteger(value) && value >= min && value <= max) return value;
  throw new InputError(`${name} must be a whole number from ${min} to ${max}, got ${shown(value)}`);
}

/** gan.inputs.as_float: a finite number in min..max; `note` says e.g. what 1 means. */
export function checkFloat(value, name, min, max, note = "") {
  if (isNumber(value) && value >= min && value <= max) return value;
  throw new InputError(`${name} must be a number from ${min} to ${max}${note ? ` (${note})` : ""}, got ${shown(value)}`);
}

const SECTIONS = ["inputs", "drawing", "encoder_search", "inversion", "codec", "render", "onnx_export", "views",
  "python"];

/** The rules of gan.inputs with the limits site.json carries: `constants` is its "constants"
 * (section -> the Python module's constants, named in lower case), `config` the generator's. */
export class Limits {
  constructor(constants, config) {
    const missing = SECTIONS.filter((s) => typeof constants?.[s] !== "object" || constants[s] === null);
    if (missing.length) {
      throw new SiteError(`site.json lacks the page's constants (${missing.join(", ")}): it comes from an ` +
                          "older export; export the site again");
    }
    Object.assign(this, constants);
    this.constants = constants;
    this.numClasses = config.num_classes;
    this.zDim = config.z_dim;
  }

  /** gan.latent.codec.max_latent_norm. */
  get maxLatentNorm() { return this.codec.latent_norm_factor * Math.sqrt(this.zDim) + this.codec.latent_norm_margin; }

  seed(value, name = "seed") { return checkInt(value, name, 0, this.inputs.max_seed); }
  digit(value, name = "digit") { return checkInt(value, name, 0, this.numClasses - 1); }
  steps(value, name = "steps") { return checkInt(value, name, this.inputs.min_steps, this.inputs.max_steps); }
  gridSide(value, name) { return checkInt(value, name, 1, this.inputs.max_grid); }
  psi(value) { return checkFloat(value, "truncation_psi", 0, this.inputs.max_truncation, this.inputs.truncation_note); }
  strength(value, direction) {
    const m = this.inputs.max_direction_strength;
    return checkFloat(value, `strength of '${direction}'`, -m, m, this.inputs.strength_note);
  }
  isAuto(digit) { return digit === this.inputs.auto_digit || digit === undefined || digit === null; }
}

function shortName(url) {
  return url instanceof URL ? url.pathname.split("/").slice(-2).join("/").replace(/^\//, "") : url;
}

/** The bytes of `url`, read as a stream: `progress(loaded, total)` after each piece (total:
 * the response's length, else `expected`, else null). */
async function fetchBytes(url, what, { progress = null, expected = null } = {}) {
  const where = shortName(url);
  let response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new SiteError(`${what} (${where}) could not be fetched: ${error.message}`);
  }
  if (!response.ok) {
    throw new SiteError(`${what} (${where}) is missing from this site (HTTP ${response.status})`);
  }
  if (!progress || !response.body?.getReader) return new Uint8Array(await response.arrayBuffer());
  // a host that sends the .gz with Content-Encoding: gzip gives inflated bytes of another length
  const length = response.headers.get("content-encoding") ? null : Number(response.headers.get("content-length")) || null;
  const total = length ?? expected;
  const reader = response.body.getReader(), pieces = [];
  let loaded = 0;
  progress(0, total);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      pieces.push(value);
      loaded += value.length;
      progress(loaded, Math.max(total ?? 0, loaded));
    }
  } catch (error) {
    throw new SiteError(`${what} (${where}) could not be fetched: ${error.message}`);
  }
  const bytes = new Uint8Array(loaded);
  let at = 0;
  for (const piece of pieces) { bytes.set(piece, at); at += piece.length; }
  return bytes;
}

/** gzip bytes inflated by the browser's DecompressionStream; bytes that are no gzip (a host
 * that inflated them already, by Content-Encoding) as they are. */
async function inflate(bytes, what, where) {
  if (bytes.length < 2 || bytes[0] !== 0x1f || bytes[1] !== 0x8b) return bytes;
  if (typeof DecompressionStream !== "function") {
    throw new SiteError("this browser cannot inflate gzip files (no DecompressionStream), which the page's " +
                        "models come as; open it in a current Chrome, Edge, Firefox or Safari");
  }
  try {
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (error) {
    throw new SiteError(`${what} (${where}) is corrupt: it does not inflate (${error.message}); export the site again`);
  }
}

async function fetchJson(url, what) {
  const bytes = await fetchBytes(url, what);
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    throw new SiteError(`${what} (${String(url).split("/").pop()}) is not valid JSON: ${error.message}`);
  }
}

async function sha256Hex(bytes) {
  if (!globalThis.crypto?.subtle) return null;  // plain-http hosts other than localhost
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class Engine {
  /** site.json: the manifest, with the page's constants. */
  static async readSite(base = new URL("./", import.meta.url)) {
    return fetchJson(new URL("site.json", base), "the site manifest");
  }

  /** Loads site.json (unless it is given, as readSite read it), the runtime, the directions and
   * the generator: only what the first digit needs (the classifier and the encoder load when
   * Draw asks for them, or warmDraw); `onnxruntime-web` is imported only after WebAssembly is
   * known to be there. `progress(files)` hears of every download: {path: {what, loaded, total,
   * done}}. */
  static async load(base = new URL("./", import.meta.url), site = null, { progress = null } = {}) {
    if (typeof WebAssembly !== "object" || typeof WebAssembly.instantiate !== "function") {
      throw new SiteError("this browser has no WebAssembly, which the models need to run; " +
                          "open the page in a current Chrome, Edge, Firefox or Safari");
    }
    const engine = new Engine(base);
    engine.onProgress = progress;
    engine.useSite(site ?? await Engine.readSite(base));
    const wasm = engine.site.runtime?.wasm;
    const [ort, binary, directions, card, generatorBytes] = await Promise.all([
      import(new URL("ort/ort.wasm.min.mjs", base).href).catch((error) => {
        throw new SiteError(`the runtime (ort/ort.wasm.min.mjs) could not be loaded: ${error.message}`);
      }),
      wasm ? engine.checkedBytes(wasm, "the runtime") : null,
      fetchJson(new URL(engine.site.directions, base), "the named directions"),
      fetchJson(new URL(engine.site.model_card, base), "the model card").catch(() => null),
      engine.modelBytes("generator", "the generator"),
    ]);
    engine.ort = ort;
    // the glue (ort-wasm-simd-threaded.mjs) still comes from here; the WebAssembly is handed over
    ort.env.wasm.wasmPaths = new URL("ort/", base).href;
    if (binary) ort.env.wasm.wasmBinary = binary;
    // Threads need SharedArrayBuffer, which only a cross-origin isolated page has.
    ort.env.wasm.numThreads = globalThis.crossOriginIsolated ? Math.min(2, navigator.hardwareConcurrency || 1) : 1;
    engine.directions = directions.directions;
    // the strength at which the directions' effects were measured (gan.latent.directions)
    engine.measuredAt = directions.max_strength ?? engine.maxStrength;
    engine.strengthUnit = directions.strength_unit ?? "";
    engine.card = card;
    engine.generator = await engine.session("generator", "the generator", generatorBytes);
    return engine;
  }

  constructor(base) {
    this.base = base;
    this.sessions = new Map();
    this.queue = Promise.resolve();   // one model run at a time
    this.downloads = {};              // path -> {what, loaded, total, done}: what progress() hears
    this.onProgress = null;
  }

  /** The manifest and the limits it carries. */
  useSite(site) {
    this.site = site;
    this.limits = new Limits(site.constants, site.config);
    return this;
  }

  get config() { return this.site.config; }
  get side() { return this.site.config.img_size; }
  get maxStrength() { return this.limits.inputs.max_direction_strength; }
  get zDim() { return this.site.config.z_dim; }
  get numClasses() { return this.site.config.num_classes; }
  get fingerprint() { return this.site.weights_sha256; }
  has(model) { return Boolean(this.site.models[model]); }

  /** The ONNX session of `model` (generator, classifier, encoder), loaded once (from `bytes`
   * when they were fetched already). */
  session(model, what, bytes = null) {
    if (!this.sessions.has(model)) {
      this.sessions.set(model, this.loadSession(model, what, bytes));
      this.sessions.get(model).catch(() => this.sessions.delete(model));  // a later call retries
    }
    return this.sessions.get(model);
  }

  /** Tells progress() how far the download of `path` is. */
  noteProgress(path, what, loaded, total, done = false) {
    this.downloads[path] = { what, loaded, total, done };
    this.onProgress?.(this.downloads);
  }

  /** A file of the site, checked against the sha256 site.json lists for it; fetched as its
   * .gz and inflated where site.json lists it as compressed (the sha256 is the inflated bytes'). */
  async checkedBytes(path, what) {
    const packed = this.site.compressed?.[path];
    const file = packed?.file ?? path;
    const loaded = await fetchBytes(new URL(file, this.base), what, {
      expected: packed?.bytes ?? null,
      progress: (done, total) => this.noteProgress(file, what, done, total),
    });
    this.noteProgress(file, what, loaded.length, loaded.length, true);
    const bytes = packed ? await inflate(loaded, what, file) : loaded;
    const expected = this.site.sha256?.[path];
    const actual = expected ? await sha256Hex(bytes) : null;
    if (actual && actual !== expected) {
      throw new SiteError(`${what} (${file}) is corrupt: its sha256 does not match site.json; export the site again`);
    }
    return bytes;
  }

  /** The checked bytes of a model's ONNX file. */
  modelBytes(model, what) {
    const path = this.site.models[model];
    if (!path) return Promise.reject(new SiteError(`this site has no ${what} (models/${model}.onnx was not exported)`));
    return this.checkedBytes(path, what);
  }

  async loadSession(model, what, fetched = null) {
    const bytes = fetched ?? await this.modelBytes(model, what);
    const path = this.site.models[model];
    try {
      return await this.ort.InferenceSession.create(bytes, { executionProviders: ["wasm"],
                                                            graphOptimizationLevel: "all" });
    } catch (error) {
      throw new SiteError(`${what} (${path}) could not be loaded: ${error.message ?? error}`);
    }
  }

  async run(session, feeds) {
    const result = this.queue.then(() => session.run(feeds));
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** Latents (n * zDim) and class mixtures (n * classes) -> Uint8Array(n * side * side). */
  async render(z, classes) {
    const n = z.length / this.zDim, maxBatch = this.limits.onnx_export.max_batch;
    if (n === 0) return new Uint8Array(0);
    if (n > maxBatch) throw new InputError(`at most ${maxBatch} images per call, got ${n}`);
    const T = this.ort.Tensor;
    const out = await this.run(this.generator, { z: new T("float32", z, [n, this.zDim]),
                                                 class_weights: new T("float32", classes, [n, this.numClasses]) });
    return out.pixels.data;
  }

  oneHot(digits) {
    const classes = new Float32Array(digits.length * this.numClasses);
    digits.forEach((d, i) => { classes[i * this.numClasses + d] = 1; });
    return classes;
  }

  /** gan.inputs.as_strengths: {name: strength} -> the edit vector (Float32Array) or null. */
  editVector(strengths) {
    if (strengths === undefined || strengths === null) return null;
    if (typeof strengths !== "object" || Array.isArray(strengths)) {
      throw new InputError("strengths must be an object keyed by direction name, e.g. {slant: 1.5}");
    }
    const names = this.directions.map((d) => d.name);
    const edit = new Float64Array(this.zDim);
    let any = false;
    for (const [name, value] of Object.entries(strengths)) {
      const direction = this.directions.find((d) => d.name === name);
      if (!direction) throw new InputError(`unknown direction '${name}' in strengths; known: ${names.join(", ")}`);
      this.limits.strength(value, name);
      if (value === 0) continue;
      any = true;
      // torch holds strengths and vectors as float32
      const strength = Math.fround(value);
      direction.vector.forEach((v, i) => { edit[i] += strength * Math.fround(v); });
    }
    return any ? Float32Array.from(edit) : null;
  }

  checkPairs(digits, seeds) {
    if (!Array.isArray(digits) || !Array.isArray(seeds) || digits.length !== seeds.length) {
      throw new InputError("digits and seeds must be lists of equal length");
    }
    digits.forEach((d) => this.limits.digit(d));
    seeds.forEach((s) => this.limits.seed(s));
  }

  /** Generator.generate (+ gan.latent.directions.generate_edited): the edit comes after psi. */
  async generate(digits, seeds, { psi = this.limits.inputs.default_truncation, strengths } = {}) {
    this.checkPairs(digits, seeds);
    this.limits.psi(psi);
    const edit = this.editVector(strengths);
    const z = new Float32Array(digits.length * this.zDim);
    seeds.forEach((seed, i) => {
      const latent = latentFromSeed(seed, this.zDim);
      for (let k = 0; k < this.zDim; k++) {
        const scaled = Math.fround(latent[k] * psi);
        z[i * this.zDim + k] = edit ? scaled + edit[k] : scaled;
      }
    });
    return this.render(z, this.oneHot(digits));
  }

  /** Generator.interpolate: z from seed A to seed B (lerp or slerp), the class morphing. */
  async interpolate(digitA, seedA, digitB, seedB, steps,
                    { method = "slerp", psi = this.limits.inputs.default_truncation } = {}) {
    const limits = this.limits;
    limits.digit(digitA, "digit_a"); limits.digit(digitB, "digit_b");
    limits.seed(seedA, "seed_a"); limits.seed(seedB, "seed_b");
    limits.steps(steps);
    if (method !== "slerp" && method !== "lerp") {
      throw new InputError(`method must be one of 'slerp', 'lerp', got ${shown(method)}`);
    }
    limits.psi(psi);
    const { z, classes } = interpolationPath({ digitA, seedA, digitB, seedB, steps, zDim: this.zDim,
                                               numClasses: this.numClasses, method, psi });
    return this.render(z, classes);
  }

  /** gan.latent.codec.decode_latent: a Float32Array of zDim finite numbers within the norm bound. */
  checkLatent(latent) {
    const values = typeof latent === "string" ? decodeLatent(latent, this.zDim, this.limits.codec.latent_prefix) : latent;
    if (!values || typeof values.length !== "number" || values.length !== this.zDim) {
      throw new InputError(`latent must hold ${this.zDim} numbers, got ${shown(values)}`);
    }
    const z = Float32Array.from(values);
    if (!Array.from(values).every(isNumber)) throw new InputError("latent must hold finite numbers");
    const norm = Math.hypot(...z), bound = this.limits.maxLatentNorm;
    if (norm > bound) {
      throw new InputError(`latent norm must be at most ${bound} (typical latents have norm about ` +
                           `${Math.round(Math.sqrt(this.zDim))}), got ${norm.toPrecision(4)}`);
    }
    return z;
  }

  /** gan.latent.codec.encode_latent: the text of a latent, as the app and PNG provenance write it. */
  encodeLatent(latent) { return encodeLatent(latent, this.limits.codec.latent_prefix); }

  /** gan.serving.render.render_restyled: (latent + edit) * psi drawn as every digit 0-9. */
  async restyle(latent, { psi = this.limits.inputs.default_truncation, strengths } = {}) {
    const base = this.checkLatent(latent);
    this.limits.psi(psi);
    const edit = this.editVector(strengths);
    const z = new Float32Array(this.numClasses * this.zDim);
    for (let d = 0; d < this.numClasses; d++) {
      for (let k = 0; k < this.zDim; k++) {
        const edited = edit ? Math.fround(base[k] + edit[k]) : base[k];
        z[d * this.zDim + k] = edited * psi;
      }
    }
    return this.render(z, this.oneHot([...Array(this.numClasses).keys()]));
  }

  /** gan.serving.render.render_style_morph: the latent's style kept while the digit turns from A into B. */
  async morph(latent, digitA, digitB, steps, { psi = this.limits.inputs.default_truncation } = {}) {
    const base = this.checkLatent(latent);
    const limits = this.limits;
    limits.digit(digitA, "digit_a"); limits.digit(digitB, "digit_b");
    limits.steps(steps);
    limits.psi(psi);
    const z = new Float32Array(steps * this.zDim);
    const classes = new Float32Array(steps * this.numClasses);
    const t = linspace01(steps);
    for (let s = 0; s < steps; s++) {
      for (let k = 0; k < this.zDim; k++) z[s * this.zDim + k] = base[k] * psi;
      classes.set(classPath(digitA, digitB, t[s], this.numClasses), s * this.numClasses);
    }
    return this.render(z, classes);
  }

  /** A drawing (28x28 MNIST-style values, a canvas or an ImageData) -> its latent for a digit
   * (`digit`: 0-9, or "auto"/undefined for the classifier's reading). */
  async invert(input, { digit = this.limits.inputs.auto_digit } = {}) {
    const pixels = asMnistPixels(input, this.limits.constants);
    if (!this.limits.isAuto(digit)) this.limits.digit(digit);
    if (!this.has("encoder")) {
      throw new SiteError("Draw needs the image-to-latent encoder (models/encoder.onnx), which this " +
                          "export does not have: export it from weights that include encoder.safetensors");
    }
    const field = this.limits.drawing.field;
    const images = new Float32Array(field * field);
    for (let i = 0; i < images.length; i++) images[i] = pixels[i] / 127.5 - 1;
    const T = this.ort.Tensor;
    let reading = null;
    if (this.has("classifier")) {
      const classifier = await this.session("classifier", "the digit classifier");
      const logits = (await this.run(classifier, { images: new T("float32", images, [1, 1, field, field]) })).logits.data;
      reading = softmaxTop(logits, 3);
    }
    let chosen = digit;
    if (this.limits.isAuto(chosen)) {
      if (!reading) throw new SiteError("reading the digit needs the classifier (models/classifier.onnx); pick a digit instead");
      chosen = reading[0].digit;
    }
    const jacobian = this.has("jacobian") ? this.session("jacobian", "the generator's Jacobian") : null;
    jacobian?.catch(() => undefined);  // awaited below; loads beside the encoder
    const encoder = await this.session("encoder", "the image-to-latent encoder");
    const classes = this.oneHot([chosen]);
    const out = await this.run(encoder, { images: new T("float32", images, [1, 1, field, field]),
                                          class_weights: new T("float32", classes, [1, this.numClasses]) });
    const start = Float32Array.from(out.z.data);
    const latent = jacobian ? await this.polishWithJacobian(await jacobian, start, chosen, pixels)
      : await this.refineBySampling(start, chosen, pixels);
    return { latent, digit: chosen, reading, pixels };
  }

  /** gan.latent.encoder_search.polish_with_jacobian: Levenberg-Marquardt steps on pixel MSE +
   * the norm prior, with the generator's exact Jacobian (models/jacobian.onnx); each step tries
   * a few damping values and keeps the best by the loss of the uint8 image. float64 algebra. */
  async polishWithJacobian(session, z, digit, target) {
    const c = this.limits.encoder_search;
    const d = this.zDim, pixels = this.side * this.side, T = this.ort.Tensor;
    const goal = new Float64Array(pixels);
    for (let p = 0; p < pixels; p++) goal[p] = Math.fround(Math.fround(target[p] / 127.5) - 1);
    const centre = Math.sqrt(d), halfWidth = this.limits.inversion.typical_norm_spread * Math.sqrt(0.5);
    const norm = (v) => { let s = 0; for (let k = 0; k < d; k++) s += v[k] * v[k]; return Math.sqrt(s); };
    const outsideOf = (v) => Math.max(Math.abs(norm(v) - centre) - halfWidth, 0);
    const losses = (images, rows) => rows.map((row, i) => {
      let sum = 0;
      for (let p = 0; p < pixels; p++) {
        const diff = images[i * pixels + p] / 127.5 - 1 - goal[p];
        sum += diff * diff;
      }
      return sum / pixels + c.page_prior_weight * outsideOf(row) ** 2;
    });
    const classes = this.oneHot([digit]);
    let loss = losses(await this.render(z, classes), [z])[0];
    let lam = c.page_polish_damping;
    const clampLam = (x) => Math.min(Math.max(x, 1e-6), 1e6);
    for (let step = 0; step < c.page_polish_steps; step++) {
      const out = await this.run(session, { z: new T("float32", z, [1, d]),
                                            class_weights: new T("float32", classes, [1, this.numClasses]) });
      const images = out.images.data, jt = out.jacobian.data;   // (1, pixels), (1, d, pixels)
      const residual = new Float64Array(pixels);
      for (let p = 0; p < pixels; p++) residual[p] = images[p] - goal[p];
      const zNorm = norm(z), outside = outsideOf(z);
      const priorR = Math.sqrt(c.page_prior_weight) * outside;
      const priorJ = new Float64Array(d);
      if (outside > 0) {
        const sign = zNorm - centre >= 0 ? 1 : -1;
        for (let k = 0; k < d; k++) priorJ[k] = Math.sqrt(c.page_prior_weight) * sign / zNorm * z[k];
      }
      const normal = new Float64Array(d * d), gradient = new Float64Array(d);
      for (let i = 0; i < d; i++) {
        const ri = i * pixels;
        let g = 0;
        for (let p = 0; p < pixels; p++) g += jt[ri + p] * residual[p];
        gradient[i] = g / pixels + priorJ[i] * priorR;
        for (let j = 0; j <= i; j++) {
          const rj = j * pixels;
          let s = 0;
          for (let p = 0; p < pixels; p++) s += jt[ri + p] * jt[rj + p];
          normal[i * d + j] = normal[j * d + i] = s / pixels + priorJ[i] * priorJ[j];
        }
      }
      let mean = 0;
      for (let k = 0; k < d; k++) mean += normal[k * d + k];
      mean /= d;
      const tries = c.damping_factors.map((factor) => {
        const system = Float64Array.from(normal);
        for (let k = 0; k < d; k++) {
          system[k * d + k] += lam * factor * Math.max(normal[k * d + k] + 1e-6 * mean, 1e-12);
        }
        const delta = solve(system, Float64Array.from(gradient), d);
        const row = new Float32Array(d);
        for (let k = 0; k < d; k++) row[k] = z[k] - delta[k];
        return row;
      });
      const batch = new Float32Array(tries.length * d);
      tries.forEach((row, i) => batch.set(row, i * d));
      const scored = losses(await this.render(batch, this.oneHot(tries.map(() => digit))), tries);
      let best = 0;
      scored.forEach((value, i) => { if (value < scored[best]) best = i; });
      if (scored[best] < loss) {
        z = tries[best]; loss = scored[best];
        lam = clampLam(lam * c.damping_factors[best]);
      } else {
        lam = clampLam(lam * 10);
      }
    }
    const bound = this.limits.maxLatentNorm * (1 - 1e-6), zNorm = norm(z);
    return zNorm > bound ? z.map((v) => v * (bound / zNorm)) : z;
  }

  /** gan.latent.encoder_search.refine_by_sampling: each round, the best of fixed moves (the
   * latents of seeds 0, 1, ...) that draws the target closer; forward passes only. */
  async refineBySampling(z, digit, target) {
    const rounds = this.limits.encoder_search.sampling_rounds;
    const total = rounds.reduce((sum, [, count]) => sum + count, 0);
    this.moves = this.moves || latentsFromSeeds([...Array(total).keys()], this.zDim);
    const bound = this.limits.maxLatentNorm, pixels = this.side * this.side;
    const distance = (images, i) => {
      let sum = 0;
      for (let p = 0; p < pixels; p++) {
        const diff = (images[i * pixels + p] - target[p]) / 255;
        sum += diff * diff;
      }
      return Math.sqrt(sum / pixels);
    };
    let best = distance(await this.render(z, this.oneHot([digit])), 0);
    let start = 0;
    for (const [size, count] of rounds) {
      const kept = [];
      for (let i = 0; i < count; i++) {
        const candidate = new Float32Array(this.zDim);
        for (let k = 0; k < this.zDim; k++) {
          candidate[k] = Math.fround(z[k] + Math.fround(size * this.moves[(start + i) * this.zDim + k]));
        }
        if (Math.hypot(...candidate) <= bound) kept.push(candidate);
      }
      start += count;
      if (!kept.length) continue;
      const batch = new Float32Array(kept.length * this.zDim);
      kept.forEach((candidate, i) => batch.set(candidate, i * this.zDim));
      const images = await this.render(batch, this.oneHot(kept.map(() => digit)));
      let chosen = -1;
      kept.forEach((_, i) => {
        const d = distance(images, i);
        if (d < best) { best = d; chosen = i; }
      });
      if (chosen >= 0) z = kept[chosen];
    }
    return z;
  }

  /** The training timeline (site.json's "timeline", gan.model.timeline's file as the export
   * wrote it): {steps, seeds, shape [T, K, S, H, W], metrics, captions, explanation, frames:
   * Uint8Array(T·K·S·H·W)}, fetched and checked on first use only; SiteError saying why there
   * is none. */
  timeline() {
    if (!this.timelineLoad) {
      this.timelineLoad = this.loadTimeline();
      this.timelineLoad.catch(() => { this.timelineLoad = null; });  // a later call tries again
    }
    return this.timelineLoad;
  }

  async loadTimeline() {
    const entry = this.site.timeline;
    if (!entry?.available) {
      const why = entry?.reason ? ` (${entry.reason})` : " (it comes from an older export)";
      throw new SiteError(`this site has no training timeline${why}${entry?.advice ? `: ${entry.advice}` : ""}`);
    }
    const [text, frames] = await Promise.all([this.checkedBytes(entry.data, "the training timeline"),
                                              this.checkedBytes(entry.frames, "the training timeline's frames")]);
    let data;
    try {
      data = JSON.parse(new TextDecoder().decode(text));
    } catch (error) {
      throw new SiteError(`the training timeline (${entry.data}) is not valid JSON: ${error.message}`);
    }
    const shape = entry.shape, size = shape.reduce((a, b) => a * b, 1);
    if (frames.length !== size || data.steps?.length !== shape[0] || data.metrics?.length !== shape[0] ||
        data.seeds?.length !== shape[2] || data.captions?.length !== shape[0]) {
      throw new SiteError(`the training timeline's files (${entry.data}, ${entry.frames}) do not fit its shape ` +
                          `[${shape.join(", ")}]; export the site again`);
    }
    return { ...data, shape, frames, frameSize: size / shape[0] };
  }

  /** Frame `index` of the timeline: Uint8Array(K·S·H·W), digit-major then seed (a copy). */
  async timelineFrame(index) {
    const timeline = await this.timeline();
    checkInt(index, "frame", 0, timeline.shape[0] - 1);
    return timeline.frames.slice(index * timeline.frameSize, (index + 1) * timeline.frameSize);
  }

  /** Loads the Draw tab's models ahead of use (errors come back on use, not here). */
  warmDraw() {
    for (const [model, what] of [["classifier", "the digit classifier"], ["encoder", "the encoder"],
                                 ["jacobian", "the generator's Jacobian"]]) {
      if (this.has(model)) this.session(model, what).catch(() => undefined);
    }
  }
}

/** The solution of the n x n system `a` x = `b` (float64, row-major; both overwritten):
 * Gaussian elimination with partial pivoting. */
function solve(a, b, n) {
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(a[r * n + col]) > Math.abs(a[pivot * n + col])) pivot = r;
    if (pivot !== col) {
      for (let k = 0; k < n; k++) [a[col * n + k], a[pivot * n + k]] = [a[pivot * n + k], a[col * n + k]];
      [b[col], b[pivot]] = [b[pivot], b[col]];
    }
    const diagonal = a[col * n + col];
    for (let r = col + 1; r < n; r++) {
      const f = a[r * n + col] / diagonal;
      if (f === 0) continue;
      for (let k = col; k < n; k++) a[r * n + k] -= f * a[col * n + k];
      b[r] -= f * b[col];
    }
  }
  const x = new Float64Array(n);
  for (let r = n - 1; r >= 0; r--) {
    let s = b[r];
    for (let k = r + 1; k < n; k++) s -= a[r * n + k] * x[k];
    x[r] = s / a[r * n + r];
  }
  return x;
}

function softmaxTop(logits, count) {
  const max = Math.max(...logits);
  const exps = Array.from(logits, (v) => Math.exp(v - max));
  const total = exps.reduce((a, b) => a + b, 0);
  return exps.map((e, digit) => ({ digit, probability: e / total }))
    .sort((a, b) => b.probability - a.probability).slice(0, count);
}

/** field x field values 0..255 as they are, or a canvas / ImageData preprocessed as
 * gan.latent.drawing does; `constants`: site.json's. */
export function asMnistPixels(input, constants) {
  const { field, min_contrast: minContrast } = constants.drawing;
  const count = field * field;
  if (input && typeof input.getContext === "function") {
    const context = input.getContext("2d", { willReadFrequently: true });
    input = context.getImageData(0, 0, input.width, input.height);
  }
  if (input && Number.isInteger(input.width) && input.data) return prepareDrawing(input, constants);
  if (input && typeof input.length === "number" && input.length === count) {
    const values = Array.from(input);
    if (!values.every((v) => isNumber(v) && v >= 0 && v <= 255)) {
      throw new InputError(`a ${count}-value drawing must hold numbers from 0 (background) to 255 (ink)`);
    }
    if (Math.max(...values) < minContrast * 255) throw new DrawingError("the drawing is empty (no value above the background) — draw a digit");
    return Uint8Array.from(values, (v) => Math.round(v));
  }
  throw new InputError(`a drawing must be ${count} values (${field}x${field}, 0 = background, 255 = ink), a canvas or an ImageData`);
}

/** gan.latent.codec.encode_latent: the prefix ("z1.") + urlsafe base64 (no padding) of little-endian float32. */
export function encodeLatent(latent, prefix) {
  const bytes = new Uint8Array(Float32Array.from(latent).buffer);
  let text = "";
  bytes.forEach((b) => { text += String.fromCharCode(b); });
  return prefix + btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function decodeLatent(text, zDim, prefix) {
  const body = text.trim();
  if (!body.startsWith(prefix)) throw new InputError(`latent text must start with '${prefix}'`);
  let raw;
  try {
    raw = atob(body.slice(prefix.length).replace(/-/g, "+").replace(/_/g, "/"));
  } catch {
    throw new InputError(`latent text after '${prefix}' is not urlsafe base64`);
  }
  if (raw.length !== 4 * zDim) throw new InputError(`latent must hold ${zDim} numbers, the text holds ${raw.length / 4}`);
  return new Float32Array(Uint8Array.from(raw, (c) => c.charCodeAt(0)).buffer);
}
