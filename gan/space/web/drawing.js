// A drawn digit -> a 28x28 MNIST-style image, exactly as gan/latent/drawing.py makes it in Python:
// ink found (any polarity, or the opaque strokes of a transparent canvas), its bounding box
// scaled to fit 20x20 with Pillow's bilinear filter (ported below, widened when shrinking,
// float32 like Pillow's "F" images), then centred by mass in a 28x28 field. Canvases that hold
// no digit (empty, a speck, all ink) raise a DrawingError that says what to do.
//
// The constants (the 20 px box, the 28 px field, the thresholds, the size limits) are
// gan.latent.drawing's and gan.inputs', as site.json's "constants" carries them: every function
// here takes that object (`constants`, or its "drawing" section `c`).

const f32 = Math.fround;

export class DrawingError extends Error {
  constructor(message) { super(message); this.name = "DrawingError"; }
}

/** Python's round(): halves go to the even neighbour. */
export function roundHalfEven(x) {
  const floor = Math.floor(x);
  const rest = x - floor;
  if (rest !== 0.5) return Math.round(x);
  return floor % 2 === 0 ? floor : floor + 1;
}

function median(values) {
  const sorted = Float64Array.from(values).sort();
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : f32(f32(sorted[mid - 1] + sorted[mid]) / 2);
}

/** An ImageData-like {width, height, data} (RGBA bytes) or {width, height, channels, data};
 * `inputs`: gan.inputs' constants (the image size and channel limits). */
function asPixels(image, inputs) {
  if (!image || !Number.isInteger(image.width) || !Number.isInteger(image.height) || !image.data) {
    throw new TypeError("a drawing must be a canvas, an ImageData or {width, height, data}");
  }
  const { width, height } = image;
  if (width < 1 || height < 1) throw new RangeError(`image must be at least 1x1 pixels, got ${width}x${height}`);
  const maxPixels = inputs.max_image_pixels;
  if (width * height > maxPixels) {
    throw new RangeError(`image is too large: ${width}x${height} = ${(width * height).toLocaleString("en")} ` +
      `pixels; at most ${maxPixels.toLocaleString("en")} are allowed (e.g. 4096x4096) — scale it down`);
  }
  const channels = image.channels ?? image.data.length / (width * height);
  if (!inputs.image_channels.includes(channels) || image.data.length !== width * height * channels) {
    throw new RangeError(`image data must hold 1 to 4 bytes per pixel, got ${image.data.length} bytes for ${width}x${height}`);
  }
  return { width, height, channels, data: Uint8Array.from(image.data) };
}

/** Pillow's Image.reduce(factor) on one uint8 image of `channels` interleaved channels. */
function reduce(pixels, factor) {
  const { width, height, channels, data } = pixels;
  const outW = Math.ceil(width / factor), outH = Math.ceil(height / factor);
  const out = new Uint8Array(outW * outH * channels);
  for (let y = 0; y < outH; y++) {
    const y0 = y * factor, y1 = Math.min(y0 + factor, height);
    for (let x = 0; x < outW; x++) {
      const x0 = x * factor, x1 = Math.min(x0 + factor, width);
      const count = (y1 - y0) * (x1 - x0);
      // libImaging's fixed-point division: (sum + n/2) * floor(2^32 / (256 n)) >> 24
      const multiplier = Math.floor(f32(2 ** 32 / (256 * count)));
      for (let c = 0; c < channels; c++) {
        let sum = Math.floor(count / 2);
        for (let yy = y0; yy < y1; yy++) {
          for (let xx = x0; xx < x1; xx++) sum += data[(yy * width + xx) * channels + c];
        }
        out[(y * outW + x) * channels + c] = Math.floor((sum * multiplier) / 16777216) & 0xff;
      }
    }
  }
  return { width: outW, height: outH, channels, data: out };
}

function shrink(pixels, c) {
  const factor = Math.ceil(Math.max(pixels.width, pixels.height) / c.working_side);
  return factor <= 1 ? pixels : reduce(pixels, factor);
}

function border(values, width, height) {
  const out = [];
  for (let x = 0; x < width; x++) out.push(values[x]);
  for (let x = 0; x < width; x++) out.push(values[(height - 1) * width + x]);
  for (let y = 1; y < height - 1; y++) out.push(values[y * width]);
  for (let y = 1; y < height - 1; y++) out.push(values[y * width + width - 1]);
  return out;
}

/** gan.latent.drawing.extract_ink: ink in 0..1 (Float32Array, width * height). */
export function extractInk(pixels, c) {
  const weights = c.grey_weights.map(f32);
  const { width, height, channels, data } = pixels;
  const n = width * height;
  const channel = (c) => {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = data[i * channels + c] / 255;
    return out;
  };
  let ink;
  const alpha = channels === 2 || channels === 4 ? channel(channels - 1) : null;
  if (alpha && median(border(alpha, width, height)) < 0.5) {
    ink = alpha;
  } else {
    let grey;
    if (channels >= 3) {
      const [r, g, b] = [channel(0), channel(1), channel(2)];
      grey = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        grey[i] = f32(f32(f32(r[i] * weights[0]) + f32(g[i] * weights[1])) + f32(b[i] * weights[2]));
      }
    } else {
      grey = channel(0);
    }
    const background = median(border(grey, width, height));
    ink = new Float32Array(n);
    if (background < 0.5) {
      const scale = Math.max(1 - background, 1e-6);
      for (let i = 0; i < n; i++) ink[i] = f32(f32(grey[i] - background) / scale);
    } else {
      const scale = Math.max(background, 1e-6);
      for (let i = 0; i < n; i++) ink[i] = f32(f32(background - grey[i]) / scale);
    }
  }
  let strongest = 0;
  for (let i = 0; i < n; i++) {
    if (ink[i] < 0) ink[i] = 0;
    if (ink[i] > strongest) strongest = ink[i];
  }
  if (strongest < c.min_contrast) {
    throw new DrawingError("the canvas is empty (one flat colour, no strokes) — draw a digit");
  }
  for (let i = 0; i < n; i++) {
    ink[i] = f32(ink[i] / strongest);
    if (ink[i] < c.noise_floor) ink[i] = 0;
  }
  return ink;
}

function inkBox(ink, width, height, c) {
  let covered = 0;
  let top = height, bottom = -1, left = width, right = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = ink[y * width + x];
      if (v > 0.5) covered++;
      if (v > c.box_threshold) {
        if (y < top) top = y;
        if (y > bottom) bottom = y;
        if (x < left) left = x;
        if (x > right) right = x;
      }
    }
  }
  const share = covered / (width * height);
  if (share > c.max_ink_fraction) {
    throw new DrawingError(`the ink covers ${Math.round(share * 100)}% of the canvas — that is no digit; ` +
                           "clear the canvas and draw one digit");
  }
  if (bottom < 0) throw new DrawingError("the canvas is empty — draw a digit");
  const boxH = bottom - top + 1, boxW = right - left + 1;
  const smallest = Math.max(c.min_digit_pixels, c.min_digit_fraction * Math.max(width, height));
  if (Math.max(boxH, boxW) < smallest) {
    throw new DrawingError(`the drawing is a tiny speck (${boxW}x${boxH} pixels on a ${width}x${height} ` +
                           "canvas) — draw a larger digit");
  }
  return { top, left, boxW, boxH };
}

// Pillow's resampling coefficients (libImaging/Resample.c, precompute_coeffs) for the
// bilinear filter: support 1, widened by the scale when shrinking, normalised per output.
function coefficients(inSize, outSize) {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale;
  const rows = [];
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    const weights = new Float64Array(Math.max(xmax, 0));
    let total = 0;
    for (let x = 0; x < xmax; x++) {
      const t = Math.abs((x + xmin - center + 0.5) / filterScale);
      weights[x] = t < 1 ? 1 - t : 0;
      total += weights[x];
    }
    if (total !== 0) for (let x = 0; x < xmax; x++) weights[x] /= total;
    rows.push({ xmin, weights });
  }
  return rows;
}

/** Pillow's Image.resize((outW, outH), BILINEAR) of a float32 ("F") image. */
export function resizeBilinear(values, width, height, outW, outH) {
  let current = values, w = width;
  if (outW !== width) {
    const coeffs = coefficients(width, outW);
    const temp = new Float32Array(outW * height);
    for (let y = 0; y < height; y++) {
      for (let xx = 0; xx < outW; xx++) {
        const { xmin, weights } = coeffs[xx];
        let sum = 0;
        for (let x = 0; x < weights.length; x++) sum += current[y * w + x + xmin] * weights[x];
        temp[y * outW + xx] = sum;
      }
    }
    current = temp; w = outW;
  }
  if (outH !== height) {
    const coeffs = coefficients(height, outH);
    const temp = new Float32Array(w * outH);
    for (let yy = 0; yy < outH; yy++) {
      const { xmin: ymin, weights } = coeffs[yy];
      for (let x = 0; x < w; x++) {
        let sum = 0;
        for (let y = 0; y < weights.length; y++) sum += current[(y + ymin) * w + x] * weights[y];
        temp[yy * w + x] = sum;
      }
    }
    current = temp;
  }
  return current === values ? Float32Array.from(values) : current;
}

/** gan.latent.drawing.fit_digit_box: the ink's box scaled to a longer side of 20 px, max ink 1. */
function fitDigitBox(ink, width, height, c) {
  const { top, left, boxW, boxH } = inkBox(ink, width, height, c);
  const box = new Float32Array(boxW * boxH);
  for (let y = 0; y < boxH; y++) {
    for (let x = 0; x < boxW; x++) box[y * boxW + x] = ink[(top + y) * width + left + x];
  }
  const scale = c.digit_box / Math.max(boxH, boxW);
  const outW = Math.max(1, roundHalfEven(boxW * scale)), outH = Math.max(1, roundHalfEven(boxH * scale));
  const fitted = resizeBilinear(box, boxW, boxH, outW, outH);
  let strongest = 0;
  for (let i = 0; i < fitted.length; i++) {
    fitted[i] = Math.min(1, Math.max(0, fitted[i]));
    if (fitted[i] > strongest) strongest = fitted[i];
  }
  const divisor = Math.max(strongest, 1e-6);
  for (let i = 0; i < fitted.length; i++) fitted[i] = f32(fitted[i] / divisor);
  return { patch: fitted, patchW: outW, patchH: outH };
}

// numpy's float32 sums, reproduced because the centre of mass is rounded to whole pixels
// and a thin symmetric stroke can sit right on a half pixel: pairwise summation (8
// accumulators, then halves) along a contiguous run, plain running sums across rows.
function pairwiseSum(values, start, count, stride) {
  if (count < 8) {
    let sum = 0;
    for (let i = 0; i < count; i++) sum = f32(sum + values[start + i * stride]);
    return sum;
  }
  if (count <= 128) {
    const r = new Float32Array(8);
    for (let j = 0; j < 8; j++) r[j] = values[start + j * stride];
    let i = 8;
    for (; i < count - (count % 8); i += 8) {
      for (let j = 0; j < 8; j++) r[j] = f32(r[j] + values[start + (i + j) * stride]);
    }
    let sum = f32(f32(f32(r[0] + r[1]) + f32(r[2] + r[3])) + f32(f32(r[4] + r[5]) + f32(r[6] + r[7])));
    for (; i < count; i++) sum = f32(sum + values[start + i * stride]);
    return sum;
  }
  let half = Math.floor(count / 2);
  half -= half % 8;
  return f32(pairwiseSum(values, start, half, stride) +
             pairwiseSum(values, start + half * stride, count - half, stride));
}

/** gan.latent.drawing.centre_by_mass: the patch in 28x28 with its centre of mass at (14, 14). */
function centreByMass(patch, patchW, patchH, c) {
  const { field: side, centre } = c;
  const mass = pairwiseSum(patch, 0, patch.length, 1);
  let momentY = 0, momentX = 0;
  for (let y = 0; y < patchH; y++) momentY += pairwiseSum(patch, y * patchW, patchW, 1) * y;
  for (let x = 0; x < patchW; x++) {
    let column = 0;
    if (patchW === 1) column = pairwiseSum(patch, 0, patchH, 1);   // one column is contiguous
    else for (let y = 0; y < patchH; y++) column = f32(column + patch[y * patchW + x]);
    momentX += column * x;
  }
  const top = Math.min(Math.max(roundHalfEven(centre - momentY / mass), 0), side - patchH);
  const left = Math.min(Math.max(roundHalfEven(centre - momentX / mass), 0), side - patchW);
  const field = new Uint8Array(side * side);
  for (let y = 0; y < patchH; y++) {
    for (let x = 0; x < patchW; x++) {
      field[(top + y) * side + left + x] = roundHalfEven(f32(patch[y * patchW + x] * 255));
    }
  }
  return field;
}

/** gan.latent.drawing.prepare_drawing: a drawing -> Uint8Array(784), 0 = background, 255 = ink.
 * `image`: an ImageData (or {width, height, data} with 1-4 bytes per pixel); `constants`:
 * site.json's "constants" (its "drawing" and "inputs" sections are used). */
export function prepareDrawing(image, constants) {
  const c = constants.drawing;
  const pixels = shrink(asPixels(image, constants.inputs), c);
  const ink = extractInk(pixels, c);
  const { patch, patchW, patchH } = fitDigitBox(ink, pixels.width, pixels.height, c);
  return centreByMass(patch, patchW, patchH, c);
}
