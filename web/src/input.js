// Keyboard, mouse, wheel and touch capture for the video, in the wire format of the input
// package (input/wire.go, docs/protocol.md): a mux.KindInput stream on the interactive yamux
// session whose open payload is the hello [version=1][width u16][height u16], then events
// [type u8][payload length u16][payload].
//
// Keys: a key whose `key` is a printable character that the US layout also prints on that
// `code` (with the same Shift state), and every non-printing key (Enter, arrows, F-keys,
// modifiers), and every key while Ctrl, Alt or Meta is held, goes as the physical key (its
// KeyboardEvent.code); the host's layout decides the character, as for a local keyboard. A
// printable character the US layout does not put on that code (another layout, AltGr) goes as
// text, as do IME compositions and dead-key results. Key-up carries the code recorded at
// key-down.

const enc = new TextEncoder();

export const VERSION = 1;
export const NORM_MAX = 65535;
export const WHEEL_NOTCH = 120;
export const MAX_TEXT = 256;
export const Type = Object.freeze({ abs: 1, rel: 2, button: 3, wheel: 4, key: 5, text: 6, releaseAll: 7, heartbeat: 8 });

// How the wheel's deltaMode maps to notches: Chromium reports 100 px per notch on most
// platforms (120 on some), Firefox 3 lines; a page is taken as 3 notches.
const PIXELS_PER_NOTCH = 100;
const LINES_PER_NOTCH = 3;
const NOTCHES_PER_PAGE = 3;

const HEARTBEAT_MS = 250;

const clamp = (v, lo, hi) => Math.min(Math.max(v, lo), hi);

export function encodeHello(width, height) {
  if (width > 0 && height > 0 && width <= 0xffff && height <= 0xffff) {
    return new Uint8Array([VERSION, width >> 8, width & 0xff, height >> 8, height & 0xff]);
  }
  return new Uint8Array([VERSION]);
}

function event(type, payload) {
  const b = new Uint8Array(3 + payload.length);
  b[0] = type;
  b[1] = payload.length >> 8;
  b[2] = payload.length & 0xff;
  b.set(payload, 3);
  return b;
}

function u16pair(type, a, b) {
  return event(type, new Uint8Array([(a >> 8) & 0xff, a & 0xff, (b >> 8) & 0xff, b & 0xff]));
}

/** Wire encoders, one per event type. Coordinates and deltas are clamped to their ranges. */
export const encode = {
  // x, y are fractions of the captured screen (0 = first pixel, 1 = last).
  pointerTo: (fx, fy) => u16pair(Type.abs, norm(fx), norm(fy)),
  pointerBy: (dx, dy) => u16pair(Type.rel, clamp(Math.round(dx), -32768, 32767), clamp(Math.round(dy), -32768, 32767)),
  button: (button, down) => event(Type.button, new Uint8Array([button, down ? 1 : 0])),
  // dx, dy in 1/120 notch (positive dy scrolls down).
  wheel: (dx, dy) => u16pair(Type.wheel, clamp(dx, -32768, 32767), clamp(dy, -32768, 32767)),
  key: (code, down) => {
    if (!/^[A-Za-z0-9]{1,32}$/.test(code)) return null;
    return event(Type.key, new Uint8Array([down ? 1 : 0, ...enc.encode(code)]));
  },
  text: (s) => {
    s = s.replace(/\p{Cc}/gu, "");
    const b = enc.encode(s);
    if (!b.length || b.length > MAX_TEXT) return null;
    return event(Type.text, b);
  },
  releaseAll: () => event(Type.releaseAll, new Uint8Array(0)),
  heartbeat: (keys, buttons) => event(Type.heartbeat, new Uint8Array([clamp(keys, 0, 255), buttons & 0x1f])),
};

export function norm(f) {
  if (!(f > 0)) return 0;
  if (f >= 1) return NORM_MAX;
  return Math.round(f * NORM_MAX);
}

// splitText cuts s into pieces of at most MAX_TEXT UTF-8 bytes at code point boundaries.
export function splitText(s) {
  const out = [];
  let cur = "";
  let n = 0;
  for (const ch of s) {
    const k = enc.encode(ch).length;
    if (n + k > MAX_TEXT) {
      out.push(cur);
      cur = "";
      n = 0;
    }
    cur += ch;
    n += k;
  }
  if (cur) out.push(cur);
  return out;
}

// contentRect is the part of the <video> element the picture covers, in client coordinates:
// with object-fit: contain the frame is scaled to fit and centred, leaving bars.
export function contentRect(video) {
  const r = video.getBoundingClientRect();
  const vw = video.videoWidth;
  const vh = video.videoHeight;
  if (!vw || !vh || !r.width || !r.height) return { left: r.left, top: r.top, width: r.width, height: r.height };
  const scale = Math.min(r.width / vw, r.height / vh);
  const width = vw * scale;
  const height = vh * scale;
  return { left: r.left + (r.width - width) / 2, top: r.top + (r.height - height) / 2, width, height };
}

// fractionAt maps a client point to fractions of the remote screen: the remote pixel under the
// point, as a fraction where the first pixel is 0 and the last 1 (what the host maps back to
// the same pixel), clamped to the picture when the point is on a letterbox bar.
export function fractionAt(rect, clientX, clientY, vw, vh) {
  const f = (pos, start, size, n) => {
    if (!(size > 0)) return 0;
    if (!(n > 1)) return clamp((pos - start) / size, 0, 1);
    const px = clamp(Math.floor(((pos - start) / size) * n), 0, n - 1);
    return px / (n - 1);
  };
  return [f(clientX, rect.left, rect.width, vw), f(clientY, rect.top, rect.height, vh)];
}

// wheelUnits turns a WheelEvent delta into 1/120 notch units (fractional).
export function wheelUnits(delta, mode) {
  switch (mode) {
    case 1: // DOM_DELTA_LINE
      return (delta / LINES_PER_NOTCH) * WHEEL_NOTCH;
    case 2: // DOM_DELTA_PAGE
      return delta * NOTCHES_PER_PAGE * WHEEL_NOTCH;
    default:
      return (delta / PIXELS_PER_NOTCH) * WHEEL_NOTCH;
  }
}

// The US layout: what each code prints without and with Shift.
const US = {};
(() => {
  const rows = [
    ["Backquote", "`~"], ["Minus", "-_"], ["Equal", "=+"], ["BracketLeft", "[{"], ["BracketRight", "]}"],
    ["Backslash", "\\|"], ["Semicolon", ";:"], ["Quote", "'\""], ["Comma", ",<"], ["Period", ".>"], ["Slash", "/?"],
    ["Space", "  "], ["IntlBackslash", "\\|"],
  ];
  for (const [code, pair] of rows) US[code] = pair;
  const shiftedDigits = ")!@#$%^&*(";
  for (let d = 0; d <= 9; d++) US["Digit" + d] = String(d) + shiftedDigits[d];
  for (let c = 65; c <= 90; c++) {
    const ch = String.fromCharCode(c);
    US["Key" + ch] = ch.toLowerCase() + ch;
  }
  for (let d = 0; d <= 9; d++) US["Numpad" + d] = String(d) + String(d);
  Object.assign(US, { NumpadAdd: "++", NumpadSubtract: "--", NumpadMultiply: "**", NumpadDivide: "//", NumpadDecimal: ".." });
})();

const isPrintable = (key) => [...key].length === 1 && !/\p{Cc}/u.test(key);

// keyAction decides how a keydown travels: {as: "key"} (physical code), {as: "text", text},
// or {as: "none"} (dead keys and IME: the result comes as composition or input).
export function keyAction(ev) {
  if (ev.isComposing || ev.keyCode === 229 || ev.key === "Dead" || ev.key === "Process") return { as: "none" };
  const altGr = ev.getModifierState && ev.getModifierState("AltGraph");
  if ((ev.ctrlKey || ev.altKey || ev.metaKey) && !altGr) return { as: "key" };
  if (!isPrintable(ev.key)) return { as: "key" };
  const us = US[ev.code];
  if (us) {
    const caps = ev.getModifierState && ev.getModifierState("CapsLock") && /^Key/.test(ev.code);
    const want = us[ev.shiftKey !== !!caps ? 1 : 0];
    if (ev.key === want && !altGr) return { as: "key" };
  }
  return { as: "text", text: ev.key };
}

/** Special key sequences for the menu: codes pressed in order, released in reverse. */
export const SPECIAL_KEYS = {
  "ctrl-alt-del": ["ControlLeft", "AltLeft", "Delete"],
  "alt-tab": ["AltLeft", "Tab"],
  super: ["MetaLeft"],
  printscreen: ["PrintScreen"],
  escape: ["Escape"],
  "ctrl-alt-backspace": ["ControlLeft", "AltLeft", "Backspace"],
};

// InputCapture turns DOM events on the video (and its key catcher, a transparent textarea over
// it that holds the focus so IME and dead keys work) into input events for send(bytes).
export class InputCapture {
  /**
   * @param {{video: HTMLVideoElement, catcher: HTMLTextAreaElement, stage: HTMLElement,
   *   state: {sent: number} & Record<string, any>, send: (bytes: Uint8Array) => void}} opts
   */
  constructor({ video, catcher, stage, state, send }) {
    this.video = video;
    this.catcher = catcher;
    this.stage = stage;
    this.state = state;
    this.send = send;
    this.held = new Map(); // code at key-down → "key"
    this.buttons = 0; // bit b-1 for a held button b
    this.wheelRest = [0, 0]; // sub-unit remainder carried to the next wheel event
    this.active = false; // the catcher has the focus
    this.heartbeat = null;
    this.enabled = false;
    // allowed is false when the host did not grant control: a click does not capture.
    this.allowed = true;
  }

  emit(bytes) {
    if (!bytes || !this.enabled) return;
    this.send(bytes);
    this.state.sent++;
  }

  attach() {
    const v = this.video;
    const c = this.catcher;
    v.addEventListener("pointerdown", (e) => this.pointerDown(e));
    v.addEventListener("pointermove", (e) => this.pointerMove(e));
    v.addEventListener("pointerup", (e) => this.pointerUp(e));
    v.addEventListener("pointercancel", (e) => this.pointerUp(e));
    v.addEventListener("wheel", (e) => this.wheel(e), { passive: false });
    v.addEventListener("contextmenu", (e) => e.preventDefault());
    c.addEventListener("keydown", (e) => this.keyDown(e));
    c.addEventListener("keyup", (e) => this.keyUp(e));
    c.addEventListener("compositionend", (e) => {
      this.sendText(e.data || "");
      c.value = "";
    });
    c.addEventListener("beforeinput", (e) => {
      if (e.inputType === "insertText" && e.data && !e.isComposing) {
        e.preventDefault();
        this.sendText(e.data);
      } else if (e.inputType === "insertFromPaste" || e.inputType === "insertFromDrop") {
        e.preventDefault(); // paste goes through the clipboard sync, not as typing
      }
    });
    c.addEventListener("input", (e) => {
      // Only the event knows whether an IME composition is under way (the textarea has no
      // such property): clearing the catcher mid-composition would cancel it.
      if (!(/** @type {InputEvent} */ (e).isComposing)) c.value = "";
    });
    c.addEventListener("focus", () => this.setActive(true));
    c.addEventListener("blur", () => this.setActive(false));
    window.addEventListener("blur", () => this.releaseAll());
    document.addEventListener("visibilitychange", () => {
      if (document.hidden) this.releaseAll();
    });
    document.addEventListener("pointerlockchange", () => {
      this.state.pointerLocked = document.pointerLockElement === v;
    });
    document.addEventListener("fullscreenchange", () => this.keyboardLock());
  }

  setActive(on) {
    this.active = on;
    this.state.focused = on;
    document.body.classList.toggle("capturing", on);
    if (!on) this.releaseAll();
  }

  focus() {
    if (!this.allowed) return;
    this.catcher.focus({ preventScroll: true });
  }

  // keyboardLock asks for Escape, Alt+Tab and the like in full screen (Chromium only).
  keyboardLock() {
    // The Keyboard API (Chromium only) is not in TypeScript's DOM types.
    const kb = /** @type {any} */ (navigator).keyboard;
    if (!kb || !kb.lock) return;
    if (document.fullscreenElement) kb.lock().catch(() => {});
    else kb.unlock();
  }

  togglePointerLock() {
    if (document.pointerLockElement === this.video) document.exitPointerLock();
    else if (this.allowed) {
      this.focus();
      const p = this.video.requestPointerLock();
      if (p && p.catch) p.catch(() => {});
    }
  }

  // pointAt is for tests: the client point that maps to fractions fx, fy of the remote screen.
  pointAt(fx, fy) {
    const r = contentRect(this.video);
    const vw = this.video.videoWidth || r.width;
    const vh = this.video.videoHeight || r.height;
    return { x: r.left + ((fx * (vw - 1) + 0.5) / vw) * r.width, y: r.top + ((fy * (vh - 1) + 0.5) / vh) * r.height };
  }

  moveTo(e) {
    if (document.pointerLockElement === this.video) {
      if (e.movementX || e.movementY) this.emit(encode.pointerBy(e.movementX, e.movementY));
      return;
    }
    const [fx, fy] = fractionAt(contentRect(this.video), e.clientX, e.clientY, this.video.videoWidth, this.video.videoHeight);
    this.emit(encode.pointerTo(fx, fy));
  }

  pointerDown(e) {
    e.preventDefault();
    if (!this.allowed) return;
    if (!this.active) this.focus();
    const b = e.button + 1;
    if (b < 1 || b > 5) return;
    try {
      this.video.setPointerCapture(e.pointerId);
    } catch {
      // not capturable (synthetic event)
    }
    this.moveTo(e);
    this.buttons |= 1 << (b - 1);
    this.emit(encode.button(b, true));
    this.startHeartbeat();
  }

  pointerMove(e) {
    if (!this.active && !this.buttons) return;
    const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [];
    this.moveTo(events.length ? events[events.length - 1] : e);
  }

  pointerUp(e) {
    const b = e.button + 1;
    if (b < 1 || b > 5 || !(this.buttons & (1 << (b - 1)))) return;
    e.preventDefault();
    this.moveTo(e);
    this.buttons &= ~(1 << (b - 1));
    this.emit(encode.button(b, false));
  }

  wheel(e) {
    if (!this.active) return;
    e.preventDefault();
    const dx = wheelUnits(e.deltaX, e.deltaMode) + this.wheelRest[0];
    const dy = wheelUnits(e.deltaY, e.deltaMode) + this.wheelRest[1];
    const ix = Math.trunc(dx);
    const iy = Math.trunc(dy);
    this.wheelRest = [dx - ix, dy - iy];
    if (ix || iy) this.emit(encode.wheel(ix, iy));
  }

  keyDown(e) {
    if (e.key === "Dead") return; // let the textarea compose; the result arrives as input
    const a = keyAction(e);
    if (a.as === "none") return;
    e.preventDefault();
    if (a.as === "text") {
      this.sendText(a.text);
      return;
    }
    if (!e.code) return;
    this.held.set(e.code, e.code);
    this.emit(encode.key(e.code, true));
    this.startHeartbeat();
  }

  keyUp(e) {
    const code = this.held.get(e.code);
    if (code === undefined) return;
    e.preventDefault();
    this.held.delete(e.code);
    this.emit(encode.key(code, false));
  }

  sendText(s) {
    for (const piece of splitText(s)) this.emit(encode.text(piece));
  }

  // pressSequence presses codes in order and releases them in reverse (the special-keys menu).
  pressSequence(codes) {
    for (const c of codes) this.emit(encode.key(c, true));
    for (const c of [...codes].reverse()) this.emit(encode.key(c, false));
  }

  releaseAll() {
    if (this.held.size || this.buttons) {
      this.held.clear();
      this.buttons = 0;
    }
    this.emit(encode.releaseAll());
  }

  startHeartbeat() {
    if (this.heartbeat) return;
    this.heartbeat = setInterval(() => {
      if (!this.held.size && !this.buttons) {
        clearInterval(this.heartbeat);
        this.heartbeat = null;
        return;
      }
      this.emit(encode.heartbeat(this.held.size, this.buttons));
    }, HEARTBEAT_MS);
  }

  stop() {
    this.enabled = false;
    this.held.clear();
    this.buttons = 0;
    clearInterval(this.heartbeat);
    this.heartbeat = null;
  }
}
