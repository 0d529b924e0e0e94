// The QR decoder in a worker, off the page's thread: zxing-wasm (zxing-cpp, the engine the Python scanner
// uses). Its .wasm comes from our own origin under a versioned, hashed name (__WASM_URL__, set by build.mjs).
/* global __WASM_URL__ */
import { prepareZXingModule, readBarcodes } from "zxing-wasm/reader";

const OPTIONS = { formats: ["QRCode"], tryHarder: true, maxNumberOfSymbols: 4 };

const ready = prepareZXingModule({
  overrides: { locateFile: (path, prefix) => (path.endsWith(".wasm") ? __WASM_URL__ : prefix + path) },
  fireImmediately: true,
});

ready.then(() => self.postMessage({ ready: true }), (error) => self.postMessage({ ready: false, error: String(error) }));

self.onmessage = async ({ data }) => {
  const { id, width, height, pixels, blob } = data;
  try {
    await ready;
    const started = performance.now();
    const input = blob || new ImageData(new Uint8ClampedArray(pixels), width, height);
    const results = await readBarcodes(input, OPTIONS);
    const codes = results.filter((r) => r.isValid && r.text).map((r) => ({ text: r.text, position: r.position }));
    self.postMessage({ id, codes, ms: performance.now() - started });
  } catch (error) {
    self.postMessage({ id, codes: [], error: String(error) });
  }
};
