// The QR decoder in a worker, off the page's thread: zxing-wasm (zxing-cpp, the engine the Python scanner
// uses). Its .wasm comes from our own origin under a versioned, hashed name (__WASM_URL__, set by build.mjs).
/* global __WASM_URL__ */
import { prepareZXingModule, readBarcodes } from "zxing-wasm/reader";

const OPTIONS = { formats: ["QRCode"], tryHarder: true, maxNumberOfSymbols: 4 };

const ready = prepareZXingModule({
  overrides: { locateFile: (path, prefix) => (path.endsWith(".wasm") ? __WASM_URL__ : prefix + path) },
  fireImmediately: true,
});

// A camera frame arrives as an ImageBitmap and its pixels are read here, off the page's thread, where this
// browser can draw in a worker (OffscreenCanvas 2D: Safari from 16.4); elsewhere the page sends pixels.
let canvas = null;
try {
  // eslint-disable-next-line compat/compat -- detected: a browser without it gets null and the page's path
  canvas = typeof OffscreenCanvas === "function" ? new OffscreenCanvas(1, 1) : null;
} catch {
  canvas = null;
}
const context = canvas && canvas.getContext("2d", { willReadFrequently: true });

ready.then(() => self.postMessage({ ready: true, bitmaps: Boolean(context) }),
  (error) => self.postMessage({ ready: false, error: String(error) }));

function pixelsOf(bitmap) {
  if (canvas.width !== bitmap.width || canvas.height !== bitmap.height) {
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
  }
  context.drawImage(bitmap, 0, 0);
  bitmap.close();
  return context.getImageData(0, 0, canvas.width, canvas.height);
}

self.onmessage = async ({ data }) => {
  const { id, width, height, pixels, blob, bitmap } = data;
  try {
    await ready;
    const input = blob || (bitmap ? pixelsOf(bitmap) : new ImageData(new Uint8ClampedArray(pixels), width, height));
    const started = performance.now();
    const results = await readBarcodes(input, OPTIONS);
    const codes = results.filter((r) => r.isValid && r.text).map((r) => ({ text: r.text, position: r.position }));
    self.postMessage({ id, codes, ms: performance.now() - started });
  } catch (error) {
    self.postMessage({ id, codes: [], error: String(error) });
  }
};
