// The page's side of the decoder worker: one frame or photo in, the QR texts found in it out.
/* global __DECODER_URL__ */

export class Decoder {
  constructor(url = __DECODER_URL__) {
    this.worker = new Worker(url, { type: "module" });
    this.pending = new Map();
    this.next = 1;
    this.bitmaps = false; // whether the worker reads frames itself (set when it is ready)
    this.ready = new Promise((resolve, reject) => {
      this.worker.addEventListener("message", ({ data }) => {
        if ("ready" in data) {
          this.bitmaps = Boolean(data.bitmaps);
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

  /** Decodes the video's current frame, the whole of it. -> {codes: [{text, position}], ms (zxing-wasm's share)} */
  async decodeFrame(video) {
    if (this.bitmaps) {
      const bitmap = await createImageBitmap(video); // the pixels are read in the worker
      return this.#ask({ bitmap }, [bitmap]);
    }
    const { videoWidth: width, videoHeight: height } = video;
    this.canvas = this.canvas || document.createElement("canvas");
    if (this.canvas.width !== width || this.canvas.height !== height) Object.assign(this.canvas, { width, height });
    this.context = this.context || this.canvas.getContext("2d", { willReadFrequently: true });
    this.context.drawImage(video, 0, 0, width, height);
    return this.decodeImage(this.context.getImageData(0, 0, width, height));
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
