// Grey PNGs with provenance text chunks (tEXt), as the Python app writes them: a CRC32, a
// zlib stream (the browser's CompressionStream, or stored blocks where it is missing), and
// an upscaler that keeps pixels crisp.

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(bytes, crc = 0) {
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

function adler32(bytes) {
  let a = 1, b = 0;
  for (let i = 0; i < bytes.length; i++) {
    a = (a + bytes[i]) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

function storedZlib(bytes) {
  const blocks = Math.max(1, Math.ceil(bytes.length / 65535));
  const out = new Uint8Array(2 + bytes.length + blocks * 5 + 4);
  out[0] = 0x78; out[1] = 0x01;
  let at = 2;
  for (let i = 0; i < blocks; i++) {
    const chunk = bytes.subarray(i * 65535, (i + 1) * 65535);
    out[at++] = i === blocks - 1 ? 1 : 0;
    out[at++] = chunk.length & 0xff; out[at++] = chunk.length >>> 8;
    out[at++] = ~chunk.length & 0xff; out[at++] = (~chunk.length >>> 8) & 0xff;
    out.set(chunk, at); at += chunk.length;
  }
  new DataView(out.buffer).setUint32(at, adler32(bytes));
  return out;
}

async function zlib(bytes) {
  if (typeof CompressionStream !== "function") return storedZlib(bytes);
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function chunk(type, data) {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

function latin1(text) {
  // tEXt is Latin-1; anything else is replaced rather than written as broken bytes
  return Uint8Array.from(String(text), (ch) => (ch.charCodeAt(0) < 256 ? ch.charCodeAt(0) : 63));
}

/** A grey 8-bit PNG of `pixels` (width * height bytes) with `metadata` as tEXt chunks. */
export async function encodePng(pixels, width, height, metadata = {}) {
  const header = new Uint8Array(13);
  const view = new DataView(header.buffer);
  view.setUint32(0, width); view.setUint32(4, height);
  header[8] = 8; header[9] = 0;  // 8 bits, greyscale
  const raw = new Uint8Array((width + 1) * height);
  for (let y = 0; y < height; y++) raw.set(pixels.subarray(y * width, (y + 1) * width), y * (width + 1) + 1);
  const parts = [Uint8Array.of(137, 80, 78, 71, 13, 10, 26, 10), chunk("IHDR", header)];
  for (const [key, value] of Object.entries(metadata)) {
    const k = latin1(key), v = latin1(value);
    const data = new Uint8Array(k.length + 1 + v.length);
    data.set(k); data.set(v, k.length + 1);
    parts.push(chunk("tEXt", data));
  }
  parts.push(chunk("IDAT", await zlib(raw)), chunk("IEND", new Uint8Array(0)));
  return new Blob(parts, { type: "image/png" });
}

/** Nearest-neighbour upscaling: each pixel becomes a factor x factor block. */
export function upscale(pixels, width, height, factor) {
  const out = new Uint8Array(width * height * factor * factor);
  const outW = width * factor;
  for (let y = 0; y < height * factor; y++) {
    const row = Math.floor(y / factor) * width;
    for (let x = 0; x < outW; x++) out[y * outW + x] = pixels[row + Math.floor(x / factor)];
  }
  return out;
}
