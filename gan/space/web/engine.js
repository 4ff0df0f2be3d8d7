// The DigitGAN engine in the browser: the generator (and the Draw tab's classifier and
// encoder) as ONNX models run by onnxruntime-web's WebAssembly backend, with the inputs
// checked by the rules of gan/inputs.py. The page's tabs and `window.DigitGAN` both use it.

import { MAX_SEED, interpolationPath, isSeed, latentFromSeed, latentsFromSeeds, classPath, linspace01 } from "./latents.js";
import { DrawingError, prepareDrawing } from "./drawing.js";

export const MAX_STEPS = 64;          // interpolation frames (as the app's API)
export const MAX_BATCH = 4096;        // images per call (the ONNX graphs' batch bound)
// gan.latent.encoder_search.SAMPLING_ROUNDS: (move size, moves) per round of Draw's polish
export const SAMPLING_ROUNDS = [[0.4, 48], [0.2, 48], [0.1, 48]];
export const LATENT_PREFIX = "z1.";   // gan.latent.codec.encode_latent's text format
const PIXELS = 28 * 28;

/** A refused input: the message says what is allowed. */
export class InputError extends RangeError {
  constructor(message) { super(message); this.name = "InputError"; }
}

/** A file of the site that is missing, corrupt or unusable. */
export class SiteError extends Error {
  constructor(message) { super(message); this.name = "SiteError"; }
}

export { DrawingError };

function shown(value) {
  if (typeof value === "string") return `'${value.length > 40 ? value.slice(0, 40) + "..." : value}'`;
  if (value === null || value === undefined) return String(value);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return Array.isArray(value) ? `a list of ${value.length}` : typeof value;
}

function isNumber(value) { return typeof value === "number" && Number.isFinite(value); }

export function checkInt(value, name, min, max) {
  if (typeof value === "number" && Number.isInteger(value) && value >= min && value <= max) return value;
  throw new InputError(`${name} must be a whole number from ${min} to ${max}, got ${shown(value)}`);
}
export const checkSeed = (value, name = "seed") => checkInt(value, name, 0, MAX_SEED);
export const checkDigit = (value, name = "digit") => checkInt(value, name, 0, 9);

export function checkPsi(value) {
  if (isNumber(value) && value >= 0 && value <= 1) return value;
  throw new InputError(`truncation_psi must be a number from 0 to 1 (1 = no truncation), got ${shown(value)}`);
}

async function fetchBytes(url, what) {
  const where = url instanceof URL ? url.pathname.split("/").slice(-2).join("/").replace(/^\//, "") : url;
  let response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new SiteError(`${what} (${where}) could not be fetched: ${error.message}`);
  }
  if (!response.ok) {
    throw new SiteError(`${what} (${where}) is missing from this site (HTTP ${response.status})`);
  }
  return new Uint8Array(await response.arrayBuffer());
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
  /** Loads site.json, the runtime, the directions and the generator; `onnxruntime-web` is
   * imported only after WebAssembly is known to be there. */
  static async load(base = new URL("./", import.meta.url)) {
    if (typeof WebAssembly !== "object" || typeof WebAssembly.instantiate !== "function") {
      throw new SiteError("this browser has no WebAssembly, which the models need to run; " +
                          "open the page in a current Chrome, Edge, Firefox or Safari");
    }
    const engine = new Engine(base);
    engine.site = await fetchJson(new URL("site.json", base), "the site manifest");
    const [ort, directions, card] = await Promise.all([
      import(new URL("ort/ort.wasm.min.mjs", base).href).catch((error) => {
        throw new SiteError(`the runtime (ort/ort.wasm.min.mjs) could not be loaded: ${error.message}`);
      }),
      fetchJson(new URL(engine.site.directions, base), "the named directions"),
      fetchJson(new URL(engine.site.model_card, base), "the model card").catch(() => null),
    ]);
    engine.ort = ort;
    ort.env.wasm.wasmPaths = new URL("ort/", base).href;
    // Threads need SharedArrayBuffer, which only a cross-origin isolated page has.
    ort.env.wasm.numThreads = globalThis.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
    engine.directions = directions.directions;
    engine.maxStrength = directions.max_strength ?? 3;
    engine.strengthUnit = directions.strength_unit ?? "";
    engine.card = card;
    engine.generator = await engine.session("generator", "the generator");
    return engine;
  }

  constructor(base) {
    this.base = base;
    this.sessions = new Map();
    this.queue = Promise.resolve();   // one model run at a time
  }

  get config() { return this.site.config; }
  get zDim() { return this.site.config.z_dim; }
  get numClasses() { return this.site.config.num_classes; }
  get fingerprint() { return this.site.weights_sha256; }
  has(model) { return Boolean(this.site.models[model]); }

  /** The ONNX session of `model` (generator, classifier, encoder), loaded once. */
  session(model, what) {
    if (!this.sessions.has(model)) {
      this.sessions.set(model, this.loadSession(model, what));
      this.sessions.get(model).catch(() => this.sessions.delete(model));  // a later call retries
    }
    return this.sessions.get(model);
  }

  async loadSession(model, what) {
    const path = this.site.models[model];
    if (!path) throw new SiteError(`this site has no ${what} (models/${model}.onnx was not exported)`);
    const bytes = await fetchBytes(new URL(path, this.base), what);
    const expected = this.site.sha256?.[path];
    const actual = expected ? await sha256Hex(bytes) : null;
    if (actual && actual !== expected) {
      throw new SiteError(`${what} (${path}) is corrupt: its sha256 does not match site.json; export the site again`);
    }
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

  /** Latents (n * zDim) and class mixtures (n * classes) -> Uint8Array(n * 784). */
  async render(z, classes) {
    const n = z.length / this.zDim;
    if (n === 0) return new Uint8Array(0);
    if (n > MAX_BATCH) throw new InputError(`at most ${MAX_BATCH} images per call, got ${n}`);
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
      const m = this.maxStrength;
      if (!isNumber(value) || Math.abs(value) > m) {
        throw new InputError(`strength of '${name}' must be a number from ${-m} to ${m} (standard deviations ` +
                             `of the latent along the direction; 0 = no change), got ${shown(value)}`);
      }
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
    digits.forEach((d) => checkDigit(d));
    seeds.forEach((s) => checkSeed(s));
  }

  /** Generator.generate (+ gan.latent.directions.generate_edited): the edit comes after psi. */
  async generate(digits, seeds, { psi = 1, strengths } = {}) {
    this.checkPairs(digits, seeds);
    checkPsi(psi);
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
  async interpolate(digitA, seedA, digitB, seedB, steps, { method = "slerp", psi = 1 } = {}) {
    checkDigit(digitA, "digit_a"); checkDigit(digitB, "digit_b");
    checkSeed(seedA, "seed_a"); checkSeed(seedB, "seed_b");
    checkInt(steps, "steps", 2, MAX_STEPS);
    if (method !== "slerp" && method !== "lerp") {
      throw new InputError(`method must be one of 'slerp', 'lerp', got ${shown(method)}`);
    }
    checkPsi(psi);
    const { z, classes } = interpolationPath({ digitA, seedA, digitB, seedB, steps, zDim: this.zDim,
                                               numClasses: this.numClasses, method, psi });
    return this.render(z, classes);
  }

  /** gan.latent.codec.decode_latent: a Float32Array of zDim finite numbers within the norm bound. */
  checkLatent(latent) {
    const values = typeof latent === "string" ? decodeLatent(latent, this.zDim) : latent;
    if (!values || typeof values.length !== "number" || values.length !== this.zDim) {
      throw new InputError(`latent must hold ${this.zDim} numbers, got ${shown(values)}`);
    }
    const z = Float32Array.from(values);
    if (!Array.from(values).every(isNumber)) throw new InputError("latent must hold finite numbers");
    const norm = Math.hypot(...z), bound = 2 * Math.sqrt(this.zDim) + 4;
    if (norm > bound) {
      throw new InputError(`latent norm must be at most ${bound} (typical latents have norm about ` +
                           `${Math.round(Math.sqrt(this.zDim))}), got ${norm.toPrecision(4)}`);
    }
    return z;
  }

  /** gan.serving.render.render_restyled: (latent + edit) * psi drawn as every digit 0-9. */
  async restyle(latent, { psi = 1, strengths } = {}) {
    const base = this.checkLatent(latent);
    checkPsi(psi);
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
  async morph(latent, digitA, digitB, steps, { psi = 1 } = {}) {
    const base = this.checkLatent(latent);
    checkDigit(digitA, "digit_a"); checkDigit(digitB, "digit_b");
    checkInt(steps, "steps", 2, MAX_STEPS);
    checkPsi(psi);
    const z = new Float32Array(steps * this.zDim);
    const classes = new Float32Array(steps * this.numClasses);
    const t = linspace01(steps);
    for (let s = 0; s < steps; s++) {
      for (let k = 0; k < this.zDim; k++) z[s * this.zDim + k] = base[k] * psi;
      classes.set(classPath(digitA, digitB, t[s], this.numClasses), s * this.numClasses);
    }
    return this.render(z, classes);
  }

  /** A drawing (784 MNIST-style values, a canvas or an ImageData) -> its latent for a digit
   * (`digit`: 0-9, or "auto"/undefined for the classifier's reading). */
  async invert(input, { digit = "auto" } = {}) {
    const pixels = asMnistPixels(input);
    if (digit !== "auto" && digit !== undefined && digit !== null) checkDigit(digit);
    if (!this.has("encoder")) {
      throw new SiteError("Draw needs the image-to-latent encoder (models/encoder.onnx), which this " +
                          "export does not have: export it from weights that include encoder.safetensors");
    }
    const images = new Float32Array(PIXELS);
    for (let i = 0; i < PIXELS; i++) images[i] = pixels[i] / 127.5 - 1;
    const T = this.ort.Tensor;
    let reading = null;
    if (this.has("classifier")) {
      const classifier = await this.session("classifier", "the digit classifier");
      const logits = (await this.run(classifier, { images: new T("float32", images, [1, 1, 28, 28]) })).logits.data;
      reading = softmaxTop(logits, 3);
    }
    let chosen = digit;
    if (chosen === "auto" || chosen === undefined || chosen === null) {
      if (!reading) throw new SiteError("reading the digit needs the classifier (models/classifier.onnx); pick a digit instead");
      chosen = reading[0].digit;
    }
    const encoder = await this.session("encoder", "the image-to-latent encoder");
    const classes = this.oneHot([chosen]);
    const out = await this.run(encoder, { images: new T("float32", images, [1, 1, 28, 28]),
                                          class_weights: new T("float32", classes, [1, this.numClasses]) });
    const latent = await this.refineBySampling(Float32Array.from(out.z.data), chosen, pixels);
    return { latent, digit: chosen, reading, pixels };
  }

  /** gan.latent.encoder_search.refine_by_sampling: each round, the best of fixed moves (the
   * latents of seeds 0, 1, ...) that draws the target closer; forward passes only. */
  async refineBySampling(z, digit, target) {
    const total = SAMPLING_ROUNDS.reduce((sum, [, count]) => sum + count, 0);
    this.moves = this.moves || latentsFromSeeds([...Array(total).keys()], this.zDim);
    const bound = 2 * Math.sqrt(this.zDim) + 4;
    const distance = (images, i) => {
      let sum = 0;
      for (let p = 0; p < PIXELS; p++) {
        const diff = (images[i * PIXELS + p] - target[p]) / 255;
        sum += diff * diff;
      }
      return Math.sqrt(sum / PIXELS);
    };
    let best = distance(await this.render(z, this.oneHot([digit])), 0);
    let start = 0;
    for (const [size, count] of SAMPLING_ROUNDS) {
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

  /** Loads the Draw tab's models ahead of use (errors come back on use, not here). */
  warmDraw() {
    for (const [model, what] of [["classifier", "the digit classifier"], ["encoder", "the encoder"]]) {
      if (this.has(model)) this.session(model, what).catch(() => undefined);
    }
  }
}

function softmaxTop(logits, count) {
  const max = Math.max(...logits);
  const exps = Array.from(logits, (v) => Math.exp(v - max));
  const total = exps.reduce((a, b) => a + b, 0);
  return exps.map((e, digit) => ({ digit, probability: e / total }))
    .sort((a, b) => b.probability - a.probability).slice(0, count);
}

/** 784 values 0..255 as they are, or a canvas / ImageData preprocessed as gan.latent.drawing does. */
export function asMnistPixels(input) {
  if (input && typeof input.getContext === "function") {
    const context = input.getContext("2d", { willReadFrequently: true });
    input = context.getImageData(0, 0, input.width, input.height);
  }
  if (input && Number.isInteger(input.width) && input.data) return prepareDrawing(input);
  if (input && typeof input.length === "number" && input.length === PIXELS) {
    const values = Array.from(input);
    if (!values.every((v) => isNumber(v) && v >= 0 && v <= 255)) {
      throw new InputError("a 784-value drawing must hold numbers from 0 (background) to 255 (ink)");
    }
    if (Math.max(...values) < 0.15 * 255) throw new DrawingError("the drawing is empty (no value above the background) — draw a digit");
    return Uint8Array.from(values, (v) => Math.round(v));
  }
  throw new InputError("a drawing must be 784 values (28x28, 0 = background, 255 = ink), a canvas or an ImageData");
}

/** gan.latent.codec.encode_latent: "z1." + urlsafe base64 (no padding) of little-endian float32. */
export function encodeLatent(latent) {
  const bytes = new Uint8Array(Float32Array.from(latent).buffer);
  let text = "";
  bytes.forEach((b) => { text += String.fromCharCode(b); });
  return LATENT_PREFIX + btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function decodeLatent(text, zDim) {
  const body = text.trim();
  if (!body.startsWith(LATENT_PREFIX)) throw new InputError(`latent text must start with '${LATENT_PREFIX}'`);
  let raw;
  try {
    raw = atob(body.slice(LATENT_PREFIX.length).replace(/-/g, "+").replace(/_/g, "/"));
  } catch {
    throw new InputError(`latent text after '${LATENT_PREFIX}' is not urlsafe base64`);
  }
  if (raw.length !== 4 * zDim) throw new InputError(`latent must hold ${zDim} numbers, the text holds ${raw.length / 4}`);
  return new Float32Array(Uint8Array.from(raw, (c) => c.charCodeAt(0)).buffer);
}
