// Latents in the browser, bit for bit the way gan.model.sampling makes them in Python.
//
// A seed's latent is torch.randn(z_dim) from a CPU torch.Generator seeded with the seed.
// torch's CPU generator is MT19937 seeded with the 32-bit seed; each uniform float is
// (32-bit output & 0xFFFFFF) * 2^-24, and for tensors of 16 or more floats randn turns
// uniforms into normals by Box-Muller over blocks of 16 (u1 = 1 - u[j], u2 = u[j + 8]).
// torch computes in float32; this computes in float64 and rounds once, which stays within
// a few float32 rounding steps of torch (about 1e-6), far below one grey level.
//
// Also here: lerp, slerp, linspace and the class path of gan.model.sampling (float64 arithmetic,
// rounded to float32 where torch's tensors are float32).

// torch's CPU generator seeds MT19937 with 32 bits, and so does this port: the largest seed it
// makes. The page accepts seeds up to gan.inputs.MAX_SEED (from site.json), which the export
// refuses to set beyond this.
const SEED_BITS = 32;
const LARGEST_SEED = 2 ** SEED_BITS - 1;
const BLOCK = 16;                     // torch's Box-Muller block (normal_fill_16)
const MT_N = 624;
const MT_M = 397;

/** The first `count` 32-bit outputs of MT19937 seeded with `seed` (as std::mt19937). */
export function mt19937(seed, count) {
  const state = new Uint32Array(MT_N);
  state[0] = seed >>> 0;
  for (let i = 1; i < MT_N; i++) {
    const prev = state[i - 1] ^ (state[i - 1] >>> 30);
    state[i] = (Math.imul(1812433253, prev) + i) >>> 0;
  }
  const out = new Uint32Array(count);
  let index = MT_N;
  for (let k = 0; k < count; k++) {
    if (index >= MT_N) {
      for (let i = 0; i < MT_N; i++) {
        const y = (state[i] & 0x80000000) | (state[(i + 1) % MT_N] & 0x7fffffff);
        state[i] = state[(i + MT_M) % MT_N] ^ (y >>> 1) ^ ((y & 1) ? 0x9908b0df : 0);
      }
      index = 0;
    }
    let y = state[index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    out[k] = y >>> 0;
  }
  return out;
}

/** Whether `seed` is a seed this port makes the latent of: a whole number from 0 to 2^32 - 1. */
export function isSeed(seed) {
  return typeof seed === "number" && Number.isInteger(seed) && seed >= 0 && seed <= LARGEST_SEED;
}

function boxMuller16(u, z, offset) {
  for (let j = 0; j < 8; j++) {
    const u1 = 1 - u[offset + j];            // [0, 1) -> (0, 1] for the log
    const u2 = u[offset + j + 8];
    const radius = Math.sqrt(-2 * Math.log(u1));
    const theta = 2 * Math.PI * u2;
    z[offset + j] = radius * Math.cos(theta);
    z[offset + j + 8] = radius * Math.sin(theta);
  }
}

/** torch.randn(zDim, generator=torch.Generator().manual_seed(seed)) as a Float32Array. */
export function latentFromSeed(seed, zDim) {
  if (!isSeed(seed)) {
    throw new RangeError(`seed must be a whole number from 0 to ${LARGEST_SEED}, got ${seed}`);
  }
  if (!Number.isInteger(zDim) || zDim < BLOCK) {
    throw new RangeError(`latents of fewer than ${BLOCK} numbers are not supported (z_dim ${zDim})`);
  }
  // torch fills the tensor with uniforms, transforms whole blocks of 16, and when the size
  // is not a multiple of 16 draws 16 fresh uniforms for the last 16 entries.
  const tail = zDim % BLOCK;
  const raw = mt19937(seed, zDim + (tail ? BLOCK : 0));
  const u = new Float64Array(zDim);
  for (let i = 0; i < zDim; i++) u[i] = (raw[i] & 0xffffff) * 2 ** -24;
  const z = new Float64Array(zDim);
  for (let i = 0; i + BLOCK <= zDim; i += BLOCK) boxMuller16(u, z, i);
  if (tail) {
    for (let i = 0; i < BLOCK; i++) u[zDim - BLOCK + i] = (raw[zDim + i] & 0xffffff) * 2 ** -24;
    boxMuller16(u, z, zDim - BLOCK);
  }
  return Float32Array.from(z);
}

/** One latent per seed, rows of one Float32Array (n * zDim). */
export function latentsFromSeeds(seeds, zDim) {
  const out = new Float32Array(seeds.length * zDim);
  seeds.forEach((seed, i) => out.set(latentFromSeed(seed, zDim), i * zDim));
  return out;
}

/** torch.linspace(0, 1, steps) in float32: the first half counts up, the second down. */
export function linspace01(steps) {
  const t = new Float64Array(steps);
  if (steps === 1) { t[0] = 0; return t; }
  const step = Math.fround(1 / (steps - 1));
  const half = Math.floor(steps / 2);
  for (let i = 0; i < steps; i++) {
    t[i] = i < half ? Math.fround(step * i) : Math.fround(1 - step * (steps - i - 1));
  }
  return t;
}

export function lerp(a, b, t) {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] + (b[i] - a[i]) * t;
  return out;
}

function norm(v) {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return Math.sqrt(s);
}

/** gan.model.sampling.slerp for one t: the direction along the great circle, the norm linearly;
 * lerp of the unit vectors where the arc is undefined ((anti)parallel endpoints). */
export function slerp(a, b, t, eps = 1e-7) {
  const an = norm(a), bn = norm(b);
  const au = a.map((x) => x / Math.max(an, eps));
  const bu = b.map((x) => x / Math.max(bn, eps));
  let cos = 0;
  for (let i = 0; i < a.length; i++) cos += au[i] * bu[i];
  cos = Math.min(1, Math.max(-1, cos));
  const omega = Math.acos(cos);
  const sin = Math.sin(omega);
  const length = an + (bn - an) * t;
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) {
    const direction = sin > 1e-4
      ? (Math.sin((1 - t) * omega) * au[i] + Math.sin(t * omega) * bu[i]) / Math.max(sin, eps)
      : au[i] + (bu[i] - au[i]) * t;
    out[i] = direction * length;
  }
  return out;
}

/** gan.model.sampling.interpolation_path: latents (steps * zDim) and class mixtures (steps * classes). */
export function interpolationPath({ digitA, seedA, digitB, seedB, steps, zDim, numClasses,
                                    method = "slerp", psi = 1 }) {
  const za = latentFromSeed(seedA, zDim), zb = latentFromSeed(seedB, zDim);
  const t = linspace01(steps);
  const z = new Float32Array(steps * zDim);
  const classes = new Float32Array(steps * numClasses);
  for (let s = 0; s < steps; s++) {
    const row = method === "slerp" ? slerp(za, zb, t[s]) : lerp(za, zb, t[s]);
    for (let i = 0; i < zDim; i++) z[s * zDim + i] = Math.fround(row[i]) * psi;
    classes.set(classPath(digitA, digitB, t[s], numClasses), s * numClasses);
  }
  return { z, classes };
}

/** One row of gan.model.sampling.class_path: digit a's one-hot vector moved toward digit b's by t. */
export function classPath(digitA, digitB, t, numClasses) {
  const row = new Float32Array(numClasses);
  row[digitA] += 1 - t;
  row[digitB] += t;
  if (digitA === digitB) row[digitA] = 1;
  return row;
}
