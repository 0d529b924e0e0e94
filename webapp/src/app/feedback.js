// Optional beep and vibration, different for ok and not ok, so a verdict is known without looking.
const KEY = "crane-scan-feedback";

export function feedbackWanted() {
  return localStorage.getItem(KEY) !== "off";
}

export function setFeedbackWanted(on) {
  localStorage.setItem(KEY, on ? "on" : "off");
}

let audio = null;

function tone(context, frequency, start, length) {
  const oscillator = context.createOscillator();
  const gain = context.createGain();
  oscillator.frequency.value = frequency;
  gain.gain.setValueAtTime(0.2, context.currentTime + start);
  gain.gain.setValueAtTime(0, context.currentTime + start + length);
  oscillator.connect(gain).connect(context.destination);
  oscillator.start(context.currentTime + start);
  oscillator.stop(context.currentTime + start + length + 0.02);
}

/** ok: one high beep and a short buzz; not ok: two low beeps and two long buzzes. */
export function signal(ok) {
  if (!feedbackWanted()) return;
  try {
    if (navigator.vibrate) navigator.vibrate(ok ? 80 : [220, 120, 220]);
  } catch { /* no vibration motor, or not allowed: the screen says it */ }
  try {
    audio = audio || new AudioContext();
    if (audio.state === "suspended") audio.resume().catch(() => {});
    if (ok) tone(audio, 1320, 0, 0.12);
    else { tone(audio, 330, 0, 0.22); tone(audio, 330, 0.32, 0.22); }
  } catch { /* audio refused before a tap: the screen says it */ }
}
