// The camera: the rear one when the phone says which it is, any camera otherwise. Nothing a browser may
// refuse (a facing mode, torch, zoom, a wake lock, labels without "back"/"rear") stops scanning: each is
// tried, and a refusal only hides its control.

const PREFERRED = { facingMode: { ideal: "environment" }, width: { ideal: 1280 }, height: { ideal: 720 } };

export class Camera {
  constructor(video) {
    this.video = video;
    this.stream = null;
    this.track = null;
    this.deviceId = null;
    this.torchOn = false;
    this.wakeLock = null;
  }

  get running() {
    return this.track !== null && this.track.readyState === "live";
  }

  /** Starts the camera (deviceId: a camera the inspector picked). Throws the browser's error when none opens. */
  async start(deviceId = this.deviceId) {
    this.stop();
    // The camera picked before (gone now, perhaps), else the rear one, else any: a refused permission is final,
    // a constraint this device cannot meet is not.
    const attempts = [...(deviceId ? [{ deviceId: { exact: deviceId } }] : []), PREFERRED, true];
    let stream = null;
    let failure = null;
    for (const video of attempts) {
      try {
        stream = await navigator.mediaDevices.getUserMedia({ video, audio: false });
        break;
      } catch (error) {
        if (error && (error.name === "NotAllowedError" || error.name === "SecurityError")) throw error;
        failure = error;
      }
    }
    if (!stream) throw failure;
    this.stream = stream;
    [this.track] = stream.getVideoTracks();
    const settings = this.track.getSettings ? this.track.getSettings() : {};
    this.deviceId = settings.deviceId || deviceId || null;
    this.torchOn = false;
    this.video.srcObject = stream;
    await this.video.play().catch(() => {}); // autoplay of a muted inline video is allowed; a refusal is not fatal
    await this.keepAwake();
    return this;
  }

  stop() {
    if (this.stream) for (const track of this.stream.getTracks()) track.stop();
    this.stream = null;
    this.track = null;
    this.video.srcObject = null;
    this.release();
  }

  /** What this camera offers: {torch: bool, zoom: {min, max, step} | null}. */
  capabilities() {
    const caps = this.track && typeof this.track.getCapabilities === "function" ? this.track.getCapabilities() : {};
    const zoom = caps.zoom && caps.zoom.max > caps.zoom.min ? { min: caps.zoom.min, max: caps.zoom.max, step: caps.zoom.step || 0.1 } : null;
    return { torch: caps.torch === true, zoom };
  }

  async setTorch(on) {
    await this.track.applyConstraints({ advanced: [{ torch: on }] });
    this.torchOn = on;
  }

  async setZoom(value) {
    await this.track.applyConstraints({ advanced: [{ zoom: value }] });
  }

  /** The cameras to pick from (labels are known once permission was given). */
  async cameras() {
    if (!navigator.mediaDevices.enumerateDevices) return [];
    const devices = await navigator.mediaDevices.enumerateDevices();
    return devices.filter((d) => d.kind === "videoinput");
  }

  async keepAwake() {
    try {
      if ("wakeLock" in navigator && document.visibilityState === "visible") {
        this.wakeLock = await navigator.wakeLock.request("screen");
      }
    } catch {
      this.wakeLock = null; // refused (battery saver, headless): scanning goes on without it
    }
  }

  release() {
    if (this.wakeLock) this.wakeLock.release().catch(() => {});
    this.wakeLock = null;
  }
}

/** Words for why the camera did not open, and what to do instead. */
export function cameraProblem(error) {
  const name = error && error.name;
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    return ["此浏览器无法使用摄像头，请用照片、输入或按编号查询。", "This browser cannot use the camera: use a photo, type the text or look up by numbers."];
  }
  if (name === "NotAllowedError" || name === "SecurityError") {
    return ["未获准使用摄像头。请在浏览器设置中允许，或用照片、输入或按编号查询。", "Camera permission refused. Allow it in the browser settings, or use a photo, typed text or the numbers."];
  }
  if (name === "NotFoundError" || name === "OverconstrainedError") {
    return ["没有找到摄像头，请用照片、输入或按编号查询。", "No camera found: use a photo, typed text or the numbers."];
  }
  return ["摄像头无法打开（可能被其他应用占用），请重试或用照片。", "The camera could not start (another app may be using it): retry or use a photo."];
}
