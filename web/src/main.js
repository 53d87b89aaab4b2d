// The page: a small form (host ID, optional one-time code), the video with a stats overlay, and
// the browser's authorized_viewers line. State for people is in #status and #error; state for
// tests is window.deskport.

import { ConnectError, Session } from "./session.js";
import { formatStats, StatsSampler } from "./stats.js";
import { authorizedLine, fingerprint, parseHostId, signer } from "./keys.js";
import { loadOrCreateKey } from "./store.js";
import { InputCapture, SPECIAL_KEYS, encodeHello } from "./input.js";
import { ClipboardSync } from "./clipboard.js";
import * as files from "./files.js";
import { Kind, openStream } from "./mux.js";
import { ControlClient, parseMonitors, request } from "./control.js";
import { LatencyMeter } from "./latency.js";
import { BusyRetry } from "./busy.js";
import { Grants, NOT_ACCEPTED, WAITING_TEXT, askGrants, describeGrants, notGrantedText } from "./grants.js";

// $ finds an element of static/index.html by id. Its type is whatever element the page puts
// there (a <video>, an <input>, a <select>, …), which only the page knows: hence any.
/** @type {(id: string) => any} */
const $ = (id) => document.getElementById(id);

// window.deskport is the page's state as tests read it.
const state = {
  state: "idle", // idle | connecting | authenticating | verified | failed | closed
  detail: "",
  hostId: "",
  method: null, // "key" | "code" once verified
  verified: false,
  error: null, // {code, message}
  stats: null,
  framesDecoded: 0,
  relayOnly: false, // the connection uses relayed candidates only (#relay-only, "?relay")
  authorizedLine: "",
  keyFingerprint: "",
  keyPersistent: false,
  // input: the input stream. state: off | opening | on | unavailable | error; sent counts events.
  input: { state: "off", message: "", sent: 0, focused: false, pointerLocked: false, pointAt: null },
  clipboard: { enabled: false, state: "off", message: "", sent: 0, received: 0, lastSent: "", lastReceived: "" },
  // files: the panel's folder and listing, and uploads/downloads in progress or done.
  files: { path: ".", entries: [], error: null, transfers: [] },
  // control: the control stream. state: off | opening | on | unavailable | error | closed;
  // monitors from the host's hello; hostStats the host's last stats message.
  control: { state: "off", message: "", monitors: [], hostStats: null, quality: "", monitor: null },
  // grants: what the host lets this session do (src/grants.js). state: off | asking | waiting
  // (no answer after 2 s: the host's owner is being asked) | known | unknown (a host from
  // before the question); list: the granted capabilities once known; text: what #status says.
  grants: { state: "off", list: null, text: "" },
  // latency: the glass-to-glass meter (#latency-toggle); medianMs is also stats.glassToGlassMs.
  latency: { enabled: false, medianMs: null, lastMs: null, frames: 0, bad: 0 },
  // warnings: what the page ignored and reports (a renegotiation only a hostile rendezvous sends).
  warnings: [],
  // restarts: how often the session moved to a new network path (ICE restart), and how long the
  // last move took from the first sign of trouble to a working path again.
  restarts: 0,
  lastRestartMs: null,
  // retry: while the host or the rendezvous refuses because too many sessions are being set up,
  // the page tries again (src/busy.js): the attempt about to start, the wait, and why.
  retry: null, // {attempt, waitMs, reason} while waiting; retries counts them for this connection
  retries: 0,
};
/** @type {any} */ (window).deskport = state; // for tests and the curious: the page's live state

let session = null;
let statsTimer = null;
let keyPromise = null;
let capture = null;
let clip = null;
let inputStream = null;
let control = null;
let meter = null;
let retry = null; // the BusyRetry of the connection the user asked for last
let grants = new Grants([], false); // the session's grants; unknown until the host answers
let detailShown = ""; // the session's own detail for #status, before the grants are added

// parseFragment reads "#<hostid>", "#<hostid>/<code>", each optionally followed by
// "?<parameters>": "latency" turns the latency meter on, "relay" connects through the TURN
// relay only.
function parseFragment() {
  const frag = decodeURIComponent(location.hash.replace(/^#/, ""));
  const q = frag.indexOf("?");
  const [host, code = ""] = (q < 0 ? frag : frag.slice(0, q)).split("/", 2);
  const query = q < 0 ? "" : frag.slice(q + 1);
  const params = new URLSearchParams(query);
  return { host, code, query, latency: params.has("latency"), relay: params.has("relay") };
}


const STATE_TEXT = {
  idle: "not connected",
  connecting: "connecting…",
  authenticating: "authenticating…",
  verified: "connected",
  failed: "failed",
  closed: "disconnected",
};

function setState(s, detail = "") {
  state.state = s;
  detailShown = detail;
  // Connected, the status line says what the session may do, or that the host's owner is
  // still being asked to accept it.
  if (s === "verified" && !detail) detail = state.grants.state === "waiting" ? WAITING_TEXT : state.grants.text;
  state.detail = detail;
  document.body.dataset.state = s;
  document.body.classList.toggle("consent-wait", s === "verified" && state.grants.state === "waiting");
  $("status").textContent = STATE_TEXT[s] + (detail ? ` — ${detail}` : "");
  const v = $("verified");
  if (s === "verified") {
    v.textContent = `verified host ${state.hostId}` + (state.method === "code" ? " (one-time code)" : " (trusted key)");
    v.hidden = false;
  } else {
    v.hidden = true;
  }
  $("connect").disabled = s === "connecting" || s === "authenticating" || s === "verified";
  $("disconnect").hidden = !(s === "connecting" || s === "authenticating" || s === "verified");
}

// explain adds what to do to the errors a person is most likely to meet.
function explain(err) {
  switch (err.code) {
    case "host_offline":
    case "unknown_host":
      return err.message || "the host is not online; check that its agent is running and can reach this rendezvous";
    case "bad_code":
      return "Wrong one-time code. It is now used up: ask the host owner for a new code.";
    case "code_expired":
      return "The one-time code has expired (and is now used up): ask the host owner for a new code.";
    case "no_code":
      return "The host is not accepting a one-time code right now (none shown, or it was already used): ask the host owner for a new code.";
    case "unauthorized":
      return "This browser's key is not authorized on the host. Give the host owner the line below to add to its authorized_viewers file, or connect with a one-time code.";
    case "host_mismatch":
      return "Host mismatch: the host could not prove it is " + state.hostId + " over this connection. The connection may be intercepted (man in the middle). Do not continue; check the host ID with the host owner.";
    case "ice_failed":
      return "Connection failed: no network path to the host (ICE failed). A firewall may block UDP; a TURN relay may be needed.";
    case "bad_code_format":
      return err.message.replace(/^auth: /, "");
  }
  return (err.message || String(err)).replace(/^auth: /, "");
}

function showError(err) {
  const box = $("error");
  if (!err) {
    box.hidden = true;
    box.textContent = "";
    state.error = null;
    document.body.classList.remove("unauthorized");
    return;
  }
  state.error = { code: err.code || "error", message: explain(err), detail: err.message || "" };
  if (err.code === "unauthorized") state.error.authorizedLine = state.authorizedLine;
  box.textContent = state.error.message;
  box.hidden = false;
  document.body.classList.toggle("unauthorized", err.code === "unauthorized");
  if (err.code === "unauthorized") $("key-box").open = true;
}

async function sampleStats(sampler) {
  try {
    const s = await sampler.sample();
    state.stats = s;
    state.framesDecoded = s.framesDecoded;
    s.glassToGlassMs = state.latency.enabled ? state.latency.medianMs : null;
    $("stats").textContent = formatStats(s, { host: state.control.hostStats, latency: state.latency });
  } catch {
    // the connection is going away
  }
}

function stopStats() {
  clearInterval(statsTimer);
  statsTimer = null;
}

async function connect(ev) {
  if (ev) ev.preventDefault();
  const hostId = parseHostId($("host-id").value);
  showError(null);
  if (!hostId) {
    setState("failed");
    showError({ code: "bad_host_id", message: "A host ID has 24 characters from a-z and 2-7; run `host id` on the host to see it." });
    return;
  }
  const code = $("code").value.trim();
  // Another connection (or the same one again) replaces any retry still waiting.
  if (retry) retry.cancel();
  retry = new BusyRetry();
  state.retry = null;
  state.retries = 0;
  if (session) session.close();
  state.hostId = hostId;
  state.method = null;
  state.verified = false;
  state.stats = null;
  state.framesDecoded = 0;
  state.restarts = 0;
  state.lastRestartMs = null;
  state.relayOnly = $("relay-only").checked;
  // Never keep a code in the URL; keep the parameters (?latency).
  const { query } = parseFragment();
  const frag = "#" + hostId + (query ? "?" + query : "");
  if (location.hash !== frag) history.replaceState(null, "", frag);
  startSession(hostId, code, retry);
}

// startSession is one attempt of the connection r follows.
function startSession(hostId, code, r) {
  state.retry = null;
  // The key is awaited when authentication starts: making or loading it overlaps the connection.
  const key = keyPromise.catch(() => null);
  const video = $("video");
  let s;
  s = new Session({
    hostId,
    code,
    relayOnly: state.relayOnly,
    key,
    comment: () => state.authorizedLine.split(" ")[2] || "",
    onWarning: (msg) => {
      if (session !== s) return;
      state.warnings.push(msg);
      $("status").textContent = STATE_TEXT[state.state] + " — warning: " + msg;
    },
    onState: (st, detail) => {
      if (session !== s) return;
      if (st === "verified") {
        if (!state.verified) startFeatures(s);
        state.verified = true;
        state.method = s.result ? s.result.method : null;
      }
      setState(st, detail);
    },
    onRestart: ({ ms }) => {
      if (session !== s) return;
      state.restarts++;
      state.lastRestartMs = ms;
    },
    onStream: (stream) => {
      if (session !== s) return;
      video.srcObject = stream;
      video.play().catch(() => {});
      startControl(s); // onStream comes only once the host is verified
    },
    onEnd: (err) => {
      if (session !== s) return;
      // Ended by the host while its owner was asked: refused, or not answered in time.
      const notAccepted = state.grants.state === "waiting" && !s.userClosed;
      stopStats();
      stopFeatures();
      state.verified = false;
      video.srcObject = null;
      // Refused only because too many sessions are being set up: wait a little and try again,
      // as the native viewer does, unless the user has asked for something else since.
      const again = err && retry === r ? r.after(err, () => retry === r && startSession(hostId, code, r)) : null;
      if (again) {
        const secs = (again.waitMs / 1000).toFixed(1);
        state.retry = again;
        state.retries++;
        setState("connecting", `${again.reason}; trying again in ${secs} s (attempt ${again.attempt} of ${r.attempts})`);
        return;
      }
      state.retry = null;
      if (notAccepted) {
        setState("failed");
        showError({ code: "not_accepted", message: NOT_ACCEPTED });
      } else if (err) {
        setState("failed");
        showError(err);
      } else {
        setState("closed");
      }
    },
  });
  session = s;
  s.start();
  const waitForPC = setInterval(() => {
    if (session !== s || s.ended) return clearInterval(waitForPC);
    if (s.pc) {
      clearInterval(waitForPC);
      const sampler = new StatsSampler(s.pc);
      stopStats();
      statsTimer = setInterval(() => sampleStats(sampler), 1000);
    }
  }, 100);
}

// startFeatures asks the host what the session may do once it is verified, then opens the
// input stream on the interactive session if control was granted.
async function startFeatures(s) {
  state.input.state = "opening";
  state.input.message = "";
  /** @type {(g: Grants) => void} */
  let answered = () => {};
  s.grantsAnswer = new Promise((r) => (answered = r));
  applyGrants(new Grants([], false)); // everything offered until the host says otherwise
  state.grants.state = "asking";
  let g = new Grants([], false);
  try {
    g = await askGrants(await s.yamux("interactive"), {
      onWaiting: () => {
        if (session !== s || s.ended || state.grants.state !== "asking") return;
        state.grants.state = "waiting";
        if (state.state === "verified") setState("verified", detailShown);
      },
    });
  } catch (e) {
    // The host ended the session while its owner was asked (its channels closed): refused, or
    // no answer in time. Say so now rather than trying to move the connection for 60 s.
    if (session === s && !s.ended && !s.userClosed && state.grants.state === "waiting") {
      console.info("deskport: the host ended the session while its owner was asked:", (e && e.message) || e);
      s.fail(new ConnectError("not_accepted", NOT_ACCEPTED));
    }
    // Otherwise the session is ending; the input open below finds out and says so.
  }
  if (session !== s) return answered(g);
  applyGrants(g);
  answered(g);
  if (g.has("control")) await startInput(s);
  else {
    state.input.state = "unavailable";
    state.input.message = notGrantedText(g, "control", state.method);
  }
  if (session === s && !$("files-panel").hidden) listFiles(state.files.path);
}

// startInput opens the input stream on the interactive session.
async function startInput(s) {
  try {
    const y = await s.yamux("interactive");
    const video = $("video");
    const stream = await openStream(y, Kind.input, encodeHello(video.videoWidth, video.videoHeight));
    if (session !== s || s.ended) return stream.reset();
    inputStream = stream;
    capture.send = (b) => stream.write(b).catch((e) => inputFailed(stream, e));
    capture.enabled = true;
    state.input.state = "on";
  } catch (e) {
    if (session !== s) return;
    state.input.state = e.code === "unsupported" || e.code === "not_allowed" ? "unavailable" : "error";
    state.input.message = e.message || String(e);
  }
}

function inputFailed(stream, e) {
  if (inputStream !== stream) return;
  inputStream = null;
  capture.stop();
  state.input.state = "error";
  state.input.message = e.message || String(e);
}

// applyGrants shows what the session may do and disables, with a title saying why and how to
// get it, the controls of what it may not. Unknown grants (a host from before the question, or
// no session) leave everything offered: each use finds out.
function applyGrants(g) {
  grants = g;
  Object.assign(state.grants, {
    state: g.known ? "known" : state.grants.state === "off" ? "off" : "unknown",
    list: g.known ? [...g.names] : null,
    text: describeGrants(g),
  });
  const missing = g.missing();
  document.body.classList.toggle("limited", missing.length > 0);
  $("status").title = missing.length ? missing.map((n) => "• " + notGrantedText(g, n, state.method)).join("\n") : "";
  const gate = (id, name) => {
    const el = $(id);
    if (!(id in TITLES)) TITLES[id] = el.title;
    el.disabled = !g.has(name);
    el.title = g.has(name) ? TITLES[id] : notGrantedText(g, name, state.method);
  };
  gate("files", "files");
  gate("clipboard-sync", "clipboard");
  gate("special-keys", "control");
  gate("pointer-lock", "control");
  if (!g.has("files") && !$("files-panel").hidden) {
    $("files-panel").hidden = true;
    $("files").setAttribute("aria-expanded", "false");
  }
  if (capture) capture.allowed = g.has("control");
  $("video").title = g.has("control") ? "" : notGrantedText(g, "control", state.method);
  if (state.state === "verified") setState("verified", detailShown);
}
const TITLES = {}; // the controls' own titles, put back when a feature is granted again

function stopFeatures() {
  applyGrants(new Grants([], false));
  state.grants.state = "off";
  if (capture) capture.stop();
  if (inputStream) inputStream.reset();
  inputStream = null;
  state.input.state = "off";
  if (clip) clip.stop();
  if (control) control.close();
  control = null;
  Object.assign(state.control, { hostStats: null, monitors: [], quality: "", monitor: null });
  setControl("off", "");
  if (meter && state.latency.enabled) meter.reset();
  for (const t of state.files.transfers) if (t.state === "running") t.state = "failed";
}

// ---- control stream: quality, monitor, host stats ----

const CONTROL_TEXT = { off: "", opening: "", on: "", unavailable: "no quality/monitor control on this host", error: "control stream error", closed: "control stream closed" };

function setControl(st, message) {
  const c = state.control;
  c.state = st;
  if (message !== undefined) c.message = message;
  $("quality").hidden = st !== "on";
  $("monitor").hidden = st !== "on" || !c.monitors.length;
  showControlNote(CONTROL_TEXT[st], c.message);
}

let noteTimer = null;
function showControlNote(text, title = "") {
  clearTimeout(noteTimer);
  $("control-state").textContent = text;
  $("control-state").title = title;
}

// startControl opens the control stream once the host is verified and its video track is
// there. A host that refuses it (not_allowed, unsupported) leaves the controls hidden.
async function startControl(s) {
  if (s.controlStarted) return;
  s.controlStarted = true;
  // The host answers the grants first (startFeatures asks once the host is verified); the
  // control stream needs view.
  const g = s.grantsAnswer ? await s.grantsAnswer : grants;
  if (session !== s || s.ended) return;
  if (!g.has("view")) {
    setControl("unavailable", notGrantedText(g, "view", state.method));
    return;
  }
  let hello = false;
  const c = new ControlClient({
    onMessage: (m) => {
      if (control !== c) return;
      if (m.type === "hello") {
        hello = true;
        state.control.monitors = parseMonitors(m.monitors);
        fillMonitors();
        setControl("on", "");
      } else if (m.type === "stats" && m.stats && typeof m.stats === "object") {
        const n = (x) => (typeof x === "number" && isFinite(x) ? x : 0);
        const h = m.stats;
        state.control.hostStats = { fps: n(h.fps), bitrateBps: n(h.bitrateBps), width: n(h.width), height: n(h.height), keyframes: n(h.keyframes), rttMs: n(h.rttMs), lost: n(h.lost) };
      } else if (m.type === "error") {
        hostRefused(String(m.error || "refused"));
      }
    },
    onEnd: (err) => {
      if (control !== c) return;
      control = null;
      state.control.hostStats = null;
      // Ended before its hello: the host would not serve it (old version, no screen stream).
      if (err) setControl("error", err.message || String(err));
      else setControl(hello ? "closed" : "unavailable");
    },
  });
  control = c;
  setControl("opening", "");
  try {
    await c.open(await s.yamux("interactive"));
    if (session !== s || s.ended) c.close();
  } catch (e) {
    if (control !== c) return;
    control = null;
    setControl(e.code === "not_allowed" || e.code === "unsupported" ? "unavailable" : "error", e.message || String(e));
  }
}

// hostRefused shows an error message from the host for a while; a refused monitor switch puts
// the select back.
let monitorBefore = null;
function hostRefused(msg) {
  state.control.message = msg;
  if (monitorBefore !== null) {
    state.control.monitor = monitorBefore.value;
    $("monitor").value = monitorBefore.select;
    monitorBefore = null;
  }
  showControlNote(`host: ${msg}`, msg);
  noteTimer = setTimeout(() => showControlNote(CONTROL_TEXT[state.control.state], state.control.message), 8000);
}

function fillMonitors() {
  const sel = $("monitor");
  const opts = [["", "Screen…"], ["-1", "Whole display"]];
  for (const m of state.control.monitors) opts.push([String(m.index), `${m.index + 1}: ${m.name || "monitor"}${m.width ? ` ${m.width}×${m.height}` : ""}`]);
  sel.replaceChildren(...opts.map(([v, t]) => new Option(t, v)));
  sel.value = state.control.monitor === null ? "" : String(state.control.monitor);
}

function sendControl(m) {
  if (!control || state.control.state !== "on") return Promise.reject(new Error("the control stream is not open"));
  return control.send(m).catch((e) => {
    showControlNote("control error", e.message || String(e));
    throw e;
  });
}

function setQuality(preset) {
  state.control.quality = preset;
  $("quality").value = preset;
  // "Auto" asks for nothing: the host keeps its own settings (or the last preset sent).
  return preset ? sendControl(request.preset(preset)) : Promise.resolve();
}

function setMonitor(index) {
  const m = request.monitor(index); // throws on a value out of range
  // The host answers a refused switch at once; an error long after is about something else.
  const before = { value: state.control.monitor, select: state.control.monitor === null ? "" : String(state.control.monitor) };
  monitorBefore = before;
  setTimeout(() => monitorBefore === before && (monitorBefore = null), 3000);
  state.control.monitor = index;
  $("monitor").value = String(index);
  return sendControl(m);
}

function initControl() {
  $("quality").addEventListener("change", (e) => setQuality(/** @type {HTMLSelectElement} */ (e.target).value).catch(() => {}));
  $("monitor").addEventListener("change", (e) => {
    const sel = /** @type {HTMLSelectElement} */ (e.target);
    if (sel.value !== "") setMonitor(Number(sel.value)).catch(() => {});
  });
  state.control.keyframe = () => sendControl(request.keyframe());
  state.control.setQuality = setQuality;
  state.control.setMonitor = setMonitor;
  setControl("off", "");

  const video = $("video");
  meter = new LatencyMeter(video, state.latency);
  const toggle = $("latency-toggle");
  if (!LatencyMeter.supported(video)) {
    toggle.disabled = true;
    toggle.parentElement.title = "This browser has no requestVideoFrameCallback: the latency meter needs it.";
  }
  toggle.addEventListener("change", () => setLatency(toggle.checked));
}

function setLatency(on) {
  if (on && !meter.start()) on = false; // no requestVideoFrameCallback
  if (!on) meter.stop();
  $("latency-toggle").checked = on;
  if (state.stats) {
    state.stats.glassToGlassMs = on ? state.latency.medianMs : null;
    $("stats").textContent = formatStats(state.stats, { host: state.control.hostStats, latency: state.latency });
  }
}

// ---- files ----

const parentOf = (p) => (p === "." || !p.includes("/") ? "." : p.slice(0, p.lastIndexOf("/")));
const join = (dir, name) => (dir === "." ? name : `${dir}/${name}`);

function formatSize(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1 << 30) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  return `${(n / (1 << 30)).toFixed(2)} GiB`;
}

async function tunnelSession() {
  if (!session || !state.verified) throw new Error("not connected");
  return session.yamux("tunnel");
}

function showFilesError(msg) {
  state.files.error = msg || null;
  $("files-error").textContent = msg || "";
  $("files-error").hidden = !msg;
}

async function listFiles(dir) {
  showFilesError(null);
  $("files-path").textContent = dir;
  state.files.path = dir;
  try {
    const entries = await files.list(await tunnelSession(), dir);
    if (state.files.path !== dir) return;
    entries.sort((a, b) => Number(b.type === "dir") - Number(a.type === "dir") || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    state.files.entries = entries;
    renderFiles();
  } catch (e) {
    state.files.entries = [];
    renderFiles();
    showFilesError(e.message || String(e));
  }
}

function renderFiles() {
  const ul = $("files-list");
  ul.replaceChildren();
  for (const e of state.files.entries) {
    const li = document.createElement("li");
    const path = join(state.files.path, e.name);
    let el;
    if (e.type === "dir") {
      el = document.createElement("button");
      el.type = "button";
      el.className = "dir";
      el.textContent = e.name + "/";
      el.addEventListener("click", () => listFiles(path));
    } else {
      el = document.createElement("a");
      el.href = "#";
      el.textContent = e.name;
      el.dataset.path = path;
      el.addEventListener("click", (ev) => {
        ev.preventDefault();
        download(path, e.name);
      });
    }
    const size = document.createElement("span");
    size.className = "size";
    size.textContent = e.type === "file" ? formatSize(e.size) : e.type;
    li.append(el, size);
    ul.append(li);
  }
}

function transfer(kind, name, total) {
  const t = { kind, name, done: 0, total, state: "running", error: null };
  state.files.transfers.push(t);
  showTransfer(t);
  return t;
}

function showTransfer(t) {
  $("upload").hidden = false;
  $("upload-label").textContent = `${t.kind === "put" ? "Uploading" : "Downloading"} ${t.name}: ` +
    (t.state === "running" ? `${formatSize(t.done)} of ${formatSize(t.total)}` : t.state === "done" ? "done" : `failed — ${t.error}`);
  $("upload-progress").value = t.total ? t.done / t.total : t.state === "done" ? 1 : 0;
}

async function download(path, name) {
  const t = transfer("get", name, 0);
  try {
    const blob = await files.get(await tunnelSession(), path, {
      progress: (n, total) => {
        t.done = n;
        t.total = total;
        showTransfer(t);
      },
    });
    t.state = "done";
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = name;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 60000);
  } catch (e) {
    t.state = "failed";
    t.error = e.message || String(e);
  }
  showTransfer(t);
}

async function upload(fileList) {
  for (const f of fileList) {
    const t = transfer("put", f.name, f.size);
    try {
      await files.put(await tunnelSession(), join(state.files.path, f.name), f, {
        progress: (n) => {
          t.done = n;
          showTransfer(t);
        },
      });
      t.state = "done";
    } catch (e) {
      t.state = "failed";
      t.error = e.message || String(e);
    }
    showTransfer(t);
  }
  if (!$("files-panel").hidden) listFiles(state.files.path);
}

function initFiles() {
  const stage = $("stage");
  $("files").addEventListener("click", () => {
    const panel = $("files-panel");
    panel.hidden = !panel.hidden;
    $("files").setAttribute("aria-expanded", String(!panel.hidden));
    if (!panel.hidden) listFiles(state.files.path);
  });
  $("files-refresh").addEventListener("click", () => listFiles(state.files.path));
  $("files-up").addEventListener("click", () => listFiles(parentOf(state.files.path)));
  stage.addEventListener("dragover", (e) => {
    if (!state.verified || !e.dataTransfer || ![...e.dataTransfer.types].includes("Files")) return;
    e.preventDefault();
    if (!grants.has("files")) {
      e.dataTransfer.dropEffect = "none"; // not granted: no drop, and the browser does not open the file
      return;
    }
    e.dataTransfer.dropEffect = "copy";
    stage.classList.add("dropping");
  });
  stage.addEventListener("dragleave", () => stage.classList.remove("dropping"));
  stage.addEventListener("drop", (e) => {
    stage.classList.remove("dropping");
    if (!state.verified || !e.dataTransfer || !e.dataTransfer.files.length) return;
    e.preventDefault();
    if (!grants.has("files")) {
      // Not granted: say so without asking the host (it would refuse).
      for (const f of e.dataTransfer.files) {
        const t = transfer("put", f.name, f.size);
        t.state = "failed";
        t.error = notGrantedText(grants, "files", state.method);
        showTransfer(t);
      }
      return;
    }
    upload([...e.dataTransfer.files]);
  });
  // For tests and scripts: the same operations the panel and drag and drop use.
  state.files.list = (dir = ".") => listFiles(dir).then(() => state.files.entries);
  state.files.upload = (name, data) => upload([new File([data], name)]);
  state.files.download = async (path) => new Uint8Array(await (await files.get(await tunnelSession(), path)).arrayBuffer());
}

// ---- input and clipboard ----

function initInput() {
  const video = $("video");
  capture = new InputCapture({ video, catcher: $("keys"), stage: $("stage"), state: state.input, send: () => {} });
  capture.attach();
  state.input.pointAt = (fx, fy) => capture.pointAt(fx, fy);
  state.input.focus = () => capture.focus();
  $("pointer-lock").addEventListener("click", () => capture.togglePointerLock());
  $("special-keys").addEventListener("change", (e) => {
    const sel = /** @type {HTMLSelectElement} */ (e.target);
    const seq = SPECIAL_KEYS[sel.value];
    sel.value = "";
    if (seq) capture.pressSequence(seq);
    capture.focus();
  });

  const cstate = state.clipboard;
  clip = new ClipboardSync({
    state: cstate,
    onChange: (c) => {
      $("clipboard-state").textContent = { off: "", starting: "clipboard…", on: "clipboard synced", denied: "clipboard denied", unavailable: "clipboard not offered by the host", error: "clipboard error" }[c.state] || c.state;
      $("clipboard-state").title = c.message || "";
      $("clipboard-sync").textContent = c.enabled ? "Stop clipboard" : "Sync clipboard";
      $("clipboard-sync").setAttribute("aria-pressed", String(!!c.enabled));
    },
  });
  $("clipboard-sync").addEventListener("click", async () => {
    if (cstate.enabled) return clip.stop();
    try {
      await clip.enable(await session.yamux("interactive"));
    } catch (e) {
      clip.set("error", e.message || String(e));
    }
  });
  $("keys").addEventListener("focus", () => clip.refresh());
  window.addEventListener("focus", () => clip.refresh());
  document.addEventListener("paste", (e) => {
    if (!cstate.enabled) return;
    const text = e.clipboardData && e.clipboardData.getData("text/plain");
    if (text) clip.push(text);
  });
}

// insecureContext explains, in place of the viewer, why it cannot work here: browsers give
// crypto.subtle (the keys, the host check) only to pages served over HTTPS or from localhost.
function insecureContext() {
  if (window.isSecureContext && globalThis.crypto && crypto.subtle) return null;
  const port = location.port ? ":" + location.port : "";
  return {
    code: "insecure_context",
    message:
      `This page came over plain http from ${location.host}, so the browser withholds the cryptography the viewer needs ` +
      `(crypto.subtle works only on HTTPS pages and on http://localhost). Nothing was sent.\n\n` +
      `To fix it, serve the rendezvous over HTTPS and open the https:// address:\n` +
      `  • rendezvous --acme rv.example.com   (a certificate from Let's Encrypt; the name must point at the server, ports 443 and 80 open)\n` +
      `  • rendezvous --tls-cert cert.pem --tls-key key.pem\n` +
      `  • host --listen 0.0.0.0:8443 --tls-cert cert.pem --tls-key key.pem   (the host's own rendezvous)\n` +
      `Or open http://localhost${port}/ on the machine that serves this page, ` +
      `or use the native viewer (viewer forward, viewer screenshot, viewer cp), which needs no HTTPS.`,
  };
}

function init() {
  const insecure = insecureContext();
  if (insecure) {
    const { host } = parseFragment();
    $("host-id").value = host;
    setState("failed", "needs HTTPS");
    showError(insecure);
    state.insecure = true;
    $("connect").disabled = true;
    $("connect-form").addEventListener("submit", (ev) => ev.preventDefault());
    $("authorized-line").textContent = "";
    $("key-note").textContent = "No key: this page is not in a secure context (see above).";
    return;
  }
  initInput();
  initFiles();
  initControl();
  const { host, code, latency, relay } = parseFragment();
  if (latency) setLatency(true);
  $("relay-only").checked = relay;
  $("host-id").value = host;
  $("code").value = code;
  setState("idle");
  $("connect-form").addEventListener("submit", connect);
  $("disconnect").addEventListener("click", () => {
    if (retry && retry.waiting) {
      retry.cancel();
      state.retry = null;
      setState("closed");
      return;
    }
    if (session) {
      session.userClosed = true;
      session.close();
    }
  });
  $("fullscreen").addEventListener("click", () => {
    const stage = $("stage");
    if (document.fullscreenElement) document.exitFullscreen();
    else stage.requestFullscreen().catch(() => {});
  });
  $("copy-line").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(state.authorizedLine);
      $("copy-line").textContent = "Copied";
    } catch {
      const r = document.createRange();
      r.selectNodeContents($("authorized-line"));
      getSelection().removeAllRanges();
      getSelection().addRange(r);
      $("copy-line").textContent = "Press Ctrl+C";
    }
    setTimeout(() => ($("copy-line").textContent = "Copy"), 2000);
  });
  // A network change the browser reports (back online, another connection type) restarts ICE
  // at once; otherwise the session notices when ICE calls its path disconnected.
  const netChanged = () => session && session.networkChanged();
  window.addEventListener("online", netChanged);
  const conn = /** @type {any} */ (navigator).connection;
  if (conn && conn.addEventListener) conn.addEventListener("change", netChanged);
  window.addEventListener("hashchange", () => {
    const f = parseFragment();
    if (f.host && parseHostId(f.host) !== state.hostId) $("host-id").value = f.host;
    if (f.latency && !state.latency.enabled) setLatency(true);
    if (f.relay) $("relay-only").checked = true;
  });

  keyPromise = (async () => {
    const { pair, persistent } = await loadOrCreateKey();
    const key = await signer(pair);
    state.authorizedLine = authorizedLine(key.publicKey, `browser@${location.host}`);
    state.keyFingerprint = fingerprint(key.publicKey);
    state.keyPersistent = persistent;
    $("authorized-line").textContent = state.authorizedLine;
    $("key-note").textContent = persistent
      ? `Key ${state.keyFingerprint}, kept in this browser for ${location.origin}; the private key cannot be exported.`
      : `Key ${state.keyFingerprint}, for this page only: this browser does not allow storing it.`;
    return key;
  })();
  keyPromise.catch((e) => {
    $("authorized-line").textContent = "";
    $("key-note").textContent = `This browser cannot make an Ed25519 key (${e.message || e}); use a one-time code.`;
  });

  // A link with a code ("#<hostid>/<code>") is a complete invitation: connect right away.
  if (host && code) connect();
}

init();
