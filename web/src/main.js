// The page: a small form (host ID, optional one-time code), the video with a stats overlay, and
// the browser's authorized_viewers line. State for people is in #status and #error; state for
// tests is window.deskport.

import { Session } from "./session.js";
import { formatStats, StatsSampler } from "./stats.js";
import { authorizedLine, fingerprint, parseHostId, signer } from "./keys.js";
import { loadOrCreateKey } from "./store.js";

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
  authorizedLine: "",
  keyFingerprint: "",
  keyPersistent: false,
};
window.deskport = state;

let session = null;
let statsTimer = null;
let keyPromise = null;

// parseFragment reads "#<hostid>" or "#<hostid>/<code>".
function parseFragment() {
  const frag = decodeURIComponent(location.hash.replace(/^#/, ""));
  const [host, code = ""] = frag.split("/", 2);
  return { host, code };
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
  state.detail = detail;
  document.body.dataset.state = s;
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
    $("stats").textContent = formatStats(s);
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
  if (session) session.close();
  state.hostId = hostId;
  state.method = null;
  state.verified = false;
  state.stats = null;
  state.framesDecoded = 0;
  if (location.hash !== "#" + hostId) history.replaceState(null, "", "#" + hostId); // never keep a code in the URL
  const key = await keyPromise.catch(() => null);
  const video = $("video");
  let s;
  s = new Session({
    hostId,
    code,
    key,
    comment: state.authorizedLine.split(" ")[2] || "",
    onState: (st, detail) => {
      if (session !== s) return;
      if (st === "verified") {
        state.verified = true;
        state.method = s.result ? s.result.method : null;
      }
      setState(st, detail);
    },
    onStream: (stream) => {
      if (session !== s) return;
      video.srcObject = stream;
      video.play().catch(() => {});
    },
    onEnd: (err) => {
      if (session !== s) return;
      stopStats();
      state.verified = false;
      video.srcObject = null;
      if (err) {
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

function init() {
  const { host, code } = parseFragment();
  $("host-id").value = host;
  $("code").value = code;
  setState("idle");
  $("connect-form").addEventListener("submit", connect);
  $("disconnect").addEventListener("click", () => session && session.close());
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
  window.addEventListener("hashchange", () => {
    const f = parseFragment();
    if (f.host && parseHostId(f.host) !== state.hostId) $("host-id").value = f.host;
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
