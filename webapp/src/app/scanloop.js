// Continuous decoding of the camera: one frame in flight at a time, the whole frame (not only the overlay's
// square: a code held off-centre still reads), a code already answered ignored while it stays in view,
// and the picture frozen on a hit until the inspector asks for the next code.

const REPEAT_QUIET_MS = 2000; // the same code again only after it has been out of view this long
const MAX_FPS = 12;

export class ScanLoop {
  constructor(video, decoder, onCode) {
    this.video = video;
    this.decoder = decoder;
    this.onCode = onCode;
    this.running = false;
    this.frozen = false;
    this.busy = false;
    this.last = { text: null, seen: 0 };
    this.frames = 0;
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.last.seen = performance.now(); // back from a hidden page: the code answered before is still answered
    this.#schedule(0);
  }

  stop() {
    this.running = false;
  }

  freeze() {
    this.frozen = true;
    this.video.pause();
  }

  resume() {
    this.frozen = false;
    this.last.seen = performance.now(); // the answered code, still in view, must leave it first
    this.video.play().catch(() => {});
  }

  #schedule(delay) {
    setTimeout(() => this.#tick(), delay);
  }

  async #tick() {
    if (!this.running) return;
    const video = this.video;
    if (this.frozen || this.busy || video.readyState < 2 || !video.videoWidth) {
      this.#schedule(100);
      return;
    }
    const started = performance.now();
    this.busy = true;
    try {
      const { videoWidth: width, videoHeight: height } = video;
      const { codes, ms } = await this.decoder.decodeFrame(video);
      this.frames += 1;
      // Timings for bench/phone.py: the whole frame's path beside zxing-wasm's own share of it.
      performance.measure("scan:frame", { start: started, end: performance.now(), detail: { decodeMs: ms, width, height } });
      if (this.frames === 1) performance.mark("scan:camera-ready"); // camera streaming and decoder compiled
      this.#found(codes);
    } finally {
      this.busy = false;
    }
    this.#schedule(Math.max(0, 1000 / MAX_FPS - (performance.now() - started)));
  }

  #found(codes) {
    const now = performance.now();
    const repeated = codes.find((c) => c.text === this.last.text);
    const quiet = now - this.last.seen > REPEAT_QUIET_MS;
    if (repeated) this.last.seen = now;
    const fresh = codes.find((c) => c.text !== this.last.text) || (quiet ? repeated : undefined);
    if (!fresh || this.frozen || !this.running) return;
    this.last = { text: fresh.text, seen: now };
    this.freeze();
    this.onCode(fresh.text, "camera");
  }
}
