// Glass-to-glass latency from xpattern's clock pattern (internal/xpattern/pattern): when the
// host's display shows `xpattern -pattern clock`, the screen is a grid of CLOCK_COLS×CLOCK_ROWS
// black or white cells, cell i (row by row from the top left) being bit i of the Unix time in
// milliseconds, least significant first. For every frame the video presents
// (requestVideoFrameCallback) the page reads that time back and compares it with its own clock.
// The difference is capture + encode + network + jitter buffer + decode + presentation; both
// clocks must agree (same machine, or NTP-synchronised), or their offset adds to the figure.
// Without the clock on the host's screen the reads are noise and are dropped as misreads.

export const CLOCK_COLS = 12;
export const CLOCK_ROWS = 4;
export const CLOCK_BITS = CLOCK_COLS * CLOCK_ROWS;
const MASK = 2 ** CLOCK_BITS; // 48 bits: past 2^32, so plain arithmetic, not bit operators

/** A delay above this is a misread (a cell read wrong, or no clock on screen). */
export const MAX_PLAUSIBLE_MS = 5000;
/** The figure shown is the median of this many frames. */
export const WINDOW = 30;

/** decodeClock reads the clock from an RGBA picture (canvas ImageData layout, width×height)
 * exactly as pattern.DecodeClock does: the centre pixel of each cell's rectangle
 * (pattern.ClockRect, integer division), one for luma ≥ 128 with integer BT.601 weights. It
 * returns the low 48 bits of the time in ms, or -1 if the picture is too small. */
export function decodeClock(px, width, height, cols = CLOCK_COLS, rows = CLOCK_ROWS) {
  let ms = 0;
  for (let i = 0; i < cols * rows; i++) {
    const col = i % cols;
    const row = Math.floor(i / cols);
    const x0 = Math.floor((col * width) / cols);
    const x1 = Math.floor(((col + 1) * width) / cols);
    const y0 = Math.floor((row * height) / rows);
    const y1 = Math.floor(((row + 1) * height) / rows);
    const o = (Math.floor((y0 + y1) / 2) * width + Math.floor((x0 + x1) / 2)) * 4;
    if (o + 3 >= px.length) return -1;
    if ((px[o] * 77 + px[o + 1] * 150 + px[o + 2] * 29) >> 8 >= 128) ms += 2 ** i;
  }
  return ms;
}

/** clockDelay is how long ago (ms) the clock showed `shown`, at local time nowMs, modulo 2^48. */
export function clockDelay(nowMs, shown) {
  const d = (nowMs % MASK) - shown;
  return d < 0 ? d + MASK : d;
}

/** median of a list of numbers (the lower middle for an even count); null if empty. */
export function median(xs) {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[(s.length - 1) >> 1];
}

/** LatencyMeter reads the clock from every frame video presents. The browser scales the frame
 * to a CLOCK_COLS×CLOCK_ROWS canvas without smoothing, which picks each cell's centre pixel
 * (pixel col of a 12-wide canvas maps to source x = (col + ½)·w/12, the centre DecodeClock
 * samples), so only 48 pixels are read back per frame. state is updated in place:
 * {enabled, medianMs, lastMs, frames, bad}; add() is the per-frame bookkeeping, for tests. */
export class LatencyMeter {
  constructor(video, state) {
    this.video = video;
    this.state = state;
    this.samples = [];
    this.handle = 0;
    this.canvas = null;
    this.g = null;
  }

  static supported(video) {
    return typeof video.requestVideoFrameCallback === "function";
  }

  // start begins measuring; false if the browser cannot (no requestVideoFrameCallback).
  start() {
    if (!LatencyMeter.supported(this.video)) return false;
    if (this.handle) return true;
    if (!this.canvas) {
      this.canvas = document.createElement("canvas");
      this.canvas.width = CLOCK_COLS;
      this.canvas.height = CLOCK_ROWS;
      this.g = this.canvas.getContext("2d", { willReadFrequently: true, alpha: false });
      this.g.imageSmoothingEnabled = false;
    }
    this.state.enabled = true;
    this.reset();
    this.handle = this.video.requestVideoFrameCallback(() => this.frame());
    return true;
  }

  // reset forgets the frames measured so far (a new session).
  reset() {
    this.samples = [];
    Object.assign(this.state, { medianMs: null, lastMs: null, frames: 0, bad: 0 });
  }

  stop() {
    if (this.handle) this.video.cancelVideoFrameCallback(this.handle);
    this.handle = 0;
    this.state.enabled = false;
    this.state.medianMs = null;
  }

  frame() {
    // The same clock as deskport-bench: Date.now() when the frame is handed to the page.
    const now = Date.now();
    this.handle = this.video.requestVideoFrameCallback(() => this.frame());
    if (!this.video.videoWidth) return;
    this.g.drawImage(this.video, 0, 0, CLOCK_COLS, CLOCK_ROWS);
    const shown = decodeClock(this.g.getImageData(0, 0, CLOCK_COLS, CLOCK_ROWS).data, CLOCK_COLS, CLOCK_ROWS);
    this.add(clockDelay(now, shown));
  }

  // add records one frame's delay. The figure is the median of the plausible delays among the
  // last WINDOW frames, and null while fewer than half of them were plausible (no clock).
  add(d) {
    const st = this.state;
    st.frames++;
    const ok = d <= MAX_PLAUSIBLE_MS;
    if (!ok) st.bad++;
    else st.lastMs = d;
    this.samples.push(ok ? d : null);
    if (this.samples.length > WINDOW) this.samples.shift();
    const good = this.samples.filter((x) => x !== null);
    st.medianMs = good.length * 2 >= this.samples.length ? median(good) : null;
  }
}
