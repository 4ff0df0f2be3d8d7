// Pictures as the Python app makes them (gan/serving/render.py, gan/images.py): grids with 2 px
// padding, strips that wrap after 16 frames, whole-number upscaling, and the provenance text
// that goes into every downloaded PNG, field for field as the server writes it. The constants
// (scales, strip width, grid modes, the Software tag) are gan.serving.render's, from site.json.

const PAD = 2;                 // gan.images.make_grid's default padding

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

/** gan.inputs.format_edit_spec: the non-zero strengths as "name=value,..." ("none" if none). */
export function editSpec(strengths) {
  const parts = Object.entries(strengths).filter(([, v]) => v !== 0).map(([k, v]) => `${k}=${pyFloat(v)}`);
  return parts.join(",") || "none";
}

/** gan.serving.render.gif_frame_ms: about 1.5 s a pass, 40..150 ms a frame. */
export function frameMs(steps) { return Math.max(40, Math.min(150, Math.floor(1500 / steps))); }

/** The picture helpers of gan.serving.render for images of side x side pixels; `constants` is
 * site.json's "constants" (its "render" and "inputs" sections are used). */
export class Pictures {
  constructor(constants, side) {
    this.render = constants.render;
    this.seeds = constants.inputs.max_seed + 1;   // grid seeds wrap past gan.inputs.MAX_SEED
    this.side = side;
  }

  get digitScale() { return this.render.digit_scale; }
  get gridModes() { return this.render.grid_modes; }

  /** gan.serving.render.provenance: Software first, then the fields, then the weights' fingerprint. */
  provenance(fingerprint, fields) {
    const meta = { Software: this.render.software };
    for (const [key, value] of Object.entries(fields)) meta[key] = text(value);
    meta.weights_sha256 = fingerprint;
    return meta;
  }

  /** gan.serving.render.fit_scale. */
  fitScale(height, width, target = this.render.target_side) {
    return Math.max(1, Math.min(this.render.max_scale, Math.floor(target / Math.max(height, width))));
  }

  /** gan.images.make_grid: n side x side images row-major into rows x cols cells -> {pixels, width, height}. */
  makeGrid(images, rows, cols) {
    const side = this.side;
    const width = cols * (side + PAD) + PAD, height = rows * (side + PAD) + PAD;
    const pixels = new Uint8Array(width * height);
    const n = images.length / (side * side);
    for (let i = 0; i < n; i++) {
      const r = Math.floor(i / cols), c = i % cols;
      const y0 = PAD + r * (side + PAD), x0 = PAD + c * (side + PAD);
      for (let y = 0; y < side; y++) {
        pixels.set(images.subarray((i * side + y) * side, (i * side + y + 1) * side), (y0 + y) * width + x0);
      }
    }
    return { pixels, width, height };
  }

  /** gan.serving.render.strip_of: frames side by side, wrapping after STRIP_COLUMNS. */
  stripOf(images) {
    const n = images.length / (this.side * this.side);
    const cols = Math.min(n, this.render.strip_columns);
    return this.makeGrid(images, Math.ceil(n / cols), cols);
  }

  /** gan.serving.render.grid_cells for the two modes the page offers: (digits, seeds) row-major. */
  gridCells(rows, cols, seed, mode, digit) {
    const digits = [], seeds = [];
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        if (mode === this.gridModes[0]) {
          digits.push(r % 10);
          seeds.push((seed + Math.floor(r / 10) * cols + c) % this.seeds);
        } else {
          digits.push(digit);
          seeds.push((seed + r * cols + c) % this.seeds);
        }
      }
    }
    return { digits, seeds };
  }
}
