// The page's side of the decoder worker: one frame or photo in, the QR texts found in it out.
/* global __DECODER_URL__ */

export class Decoder {
  constructor(url = __DECODER_URL__) {
    this.worker = new Worker(url, { type: "module" });
    this.pending = new Map();
    this.next = 1;
    this.ready = new Promise((resolve, reject) => {
      this.worker.addEventListener("message", ({ data }) => {
        if ("ready" in data) {
          if (data.ready) resolve();
          else reject(new Error(data.error));
          return;
        }
        const settle = this.pending.get(data.id);
        this.pending.delete(data.id);
        if (settle) settle(data);
      });
      this.worker.addEventListener("error", (event) => reject(new Error(event.message || "decoder failed to load")));
    });
  }

  /** Decodes an ImageData (its buffer is handed over, not copied). -> {codes: [{text, position}], ms} */
  decodeImage(image) {
    return this.#ask({ width: image.width, height: image.height, pixels: image.data.buffer }, [image.data.buffer]);
  }

  /** Decodes an encoded image file (zxing-wasm reads PNG, JPEG, ... itself). */
  decodeFile(blob) {
    return this.#ask({ blob }, []);
  }

  #ask(message, transfer) {
    const id = this.next++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.worker.postMessage({ id, ...message }, transfer);
    });
  }
}
