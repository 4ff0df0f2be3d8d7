// Pictures as the Python app makes them (gan/serving/render.py, gan/images.py): grids with 2 px
// padding, strips that wrap after 16 frames, whole-number upscaling, and the provenance text
// that goes into every downloaded PNG, field for field as the server writes it.

export const DIGIT_SCALE = 10;
export const STRIP_COLUMNS = 16;
export const GRID_MODES = ["one digit per row (0-9)", "all one digit"];
const TARGET_SIDE = 1000;
const MAX_SCALE = 10;
const PAD = 2;
const SIDE = 28;
export const SOFTWARE = "DigitGAN";

/** Python's str() of a float: 1 -> "1.0", 0.75 -> "0.75". */
export function pyFloat(value) {
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value) && Math.abs(value) < 1e16) return value.toFixed(1);
  return String(value);
}

/** gan.serving.render._text: lists joined with commas. Floats (psi, strengths) come as pyFloat text. */
function text(value) {
  return Array.isArray(value) ? value.map(text).join(",") : String(value);
}

/** gan.serving.render.provenance: Software first, then the fields, then the weights' fingerprint. */
export function provenance(fingerprint, fields) {
  const meta = { Software: SOFTWARE };
  for (const [key, value] of Object.entries(fields)) meta[key] = text(value);
  meta.weights_sha256 = fingerprint;
  return meta;
}

/** gan.inputs.format_edit_spec: the non-zero strengths as "name=value,..." ("none" if none). */
export function editSpec(strengths) {
  const parts = Object.entries(strengths).filter(([, v]) => v !== 0).map(([k, v]) => `${k}=${pyFloat(v)}`);
  return parts.join(",") || "none";
}

/** gan.serving.render.fit_scale. */
export function fitScale(height, width, target = TARGET_SIDE) {
  return Math.max(1, Math.min(MAX_SCALE, Math.floor(target / Math.max(height, width))));
}

/** gan.images.make_grid: n 28x28 images row-major into rows x cols cells -> {pixels, width, height}. */
export function makeGrid(images, rows, cols) {
  const width = cols * (SIDE + PAD) + PAD, height = rows * (SIDE + PAD) + PAD;
  const pixels = new Uint8Array(width * height);
  const n = images.length / (SIDE * SIDE);
  for (let i = 0; i < n; i++) {
    const r = Math.floor(i / cols), c = i % cols;
    const y0 = PAD + r * (SIDE + PAD), x0 = PAD + c * (SIDE + PAD);
    for (let y = 0; y < SIDE; y++) {
      pixels.set(images.subarray((i * SIDE + y) * SIDE, (i * SIDE + y + 1) * SIDE), (y0 + y) * width + x0);
    }
  }
  return { pixels, width, height };
}

/** gan.serving.render.strip_of: frames side by side, wrapping after 16. */
export function stripOf(images) {
  const n = images.length / (SIDE * SIDE);
  const cols = Math.min(n, STRIP_COLUMNS);
  return makeGrid(images, Math.ceil(n / cols), cols);
}

/** gan.serving.render.grid_cells for the two modes the page offers: (digits, seeds) row-major. */
export function gridCells(rows, cols, seed, mode, digit) {
  const digits = [], seeds = [];
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      if (mode === GRID_MODES[0]) {
        digits.push(r % 10);
        seeds.push((seed + Math.floor(r / 10) * cols + c) % 4294967296);
      } else {
        digits.push(digit);
        seeds.push((seed + r * cols + c) % 4294967296);
      }
    }
  }
  return { digits, seeds };
}

/** gan.serving.render.gif_frame_ms: about 1.5 s a pass, 40..150 ms a frame. */
export function frameMs(steps) { return Math.max(40, Math.min(150, Math.floor(1500 / steps))); }
