// What the host lets this session do: the page asks with a mux.KindGrants open on the
// interactive session, as the native viewer does (viewer/grants.go, docs/tunnel.md). The host's
// OK reply names the capabilities comma-separated ("view,control,clipboard,files,forward,listen",
// or "none"). A one-time code's session is answered only once the host's owner has accepted it,
// so a slow answer means the owner is being asked.

import { Kind, OpenError, openStream } from "./mux.js";

/** The capabilities, as `host --grant` and the host's logs name them. */
export const CAPABILITIES = Object.freeze(["view", "control", "clipboard", "files", "forward", "listen"]);

/** How long the host may take to answer before the page says it waits for the host's owner. */
export const CONSENT_NOTICE_MS = 2000;

/** The native viewer's words for that wait. */
export const WAITING_TEXT = "waiting for the host's owner to accept this session (they are asked on the host)…";

/** What the page says when the host ends the session while its owner is asked (the native
 * viewer's words). */
export const NOT_ACCEPTED = "the host ended the session before its owner accepted it (refused, or no answer in time); ask them to try again with a new one-time code";

/** Grants is the host's answer. known is false when the host did not say (a host from before
 * the question): then everything may be granted and each use finds out, as before. */
export class Grants {
  /** @param {string[]} names @param {boolean} known */
  constructor(names = [], known = true) {
    this.names = names;
    this.known = known;
  }

  /** has reports whether a capability is granted, or may be (the host did not say). */
  has(name) {
    return !this.known || this.names.includes(name);
  }

  /** missing lists the capabilities the host said it does not grant. */
  missing() {
    return this.known ? CAPABILITIES.filter((n) => !this.names.includes(n)) : [];
  }

  toString() {
    if (!this.known) return "unknown";
    return this.names.length ? this.names.join(",") : "none";
  }
}

/** parseGrants reads the host's list; "none" is the empty one. */
export function parseGrants(msg) {
  const names = [];
  for (let n of String(msg).split(",")) {
    n = n.trim();
    if (n && n !== "none" && !names.includes(n)) names.push(n);
  }
  return new Grants(names, true);
}

/** The capabilities named for a person (the native viewer's words). */
export const CAP_WHAT = Object.freeze({
  view: "the screen",
  control: "control of the screen",
  clipboard: "the clipboard",
  files: "file transfer",
  forward: "port forwarding (-L, -D)",
  listen: "reverse port forwarding (-R)",
});

// The authorized_viewers option that takes each capability away from a key (auth/authorized.go).
const KEY_OPTION = { view: "no-view", control: "view-only or no-control", clipboard: "no-clipboard", files: "no-files", forward: "no-port-forwarding or no-forward", listen: "no-port-forwarding or no-listen" };

/** describeGrants is what the session may do, for the status line: "view only", "nothing
 * granted", or the list; "" when the host did not say. */
export function describeGrants(g) {
  if (!g.known) return "";
  if (!g.names.length) return "nothing granted";
  if (g.names.length === 1 && g.names[0] === "view") return "view only";
  return "allowed: " + g.names.join(", ");
}

/** notGrantedText says that capability name was not granted, and how the host's owner grants
 * it: `host --code --grant …` for a one-time code, the authorized_viewers line for a key. */
export function notGrantedText(g, name, method) {
  const what = CAP_WHAT[name] || name;
  const how =
    method === "key"
      ? `the host's owner removes ${KEY_OPTION[name] || "the option that takes it away"} from this browser's line in the host's authorized_viewers`
      : `the host's owner grants it to a one-time code with host --code --grant ${[...g.names, name].join(",")} (and [a] when the host asks)`;
  return `${what} was not granted to this session (granted: ${g}); ${how}`;
}

/**
 * askGrants asks the host what this session may do. When the answer takes longer than noticeMs
 * it calls onWaiting once: the host's owner is being asked to accept the session. A refusal of
 * the question (`unsupported` from a host from before it, or `not_allowed`/`too_many_streams`)
 * resolves with unknown grants; a session that ends rejects.
 * @param {{open: () => any}} y the interactive yamux session
 * @param {{onWaiting?: () => void, noticeMs?: number}} [opts]
 * @returns {Promise<Grants>}
 */
export async function askGrants(y, { onWaiting = () => {}, noticeMs = CONSENT_NOTICE_MS } = {}) {
  const timer = setTimeout(onWaiting, noticeMs);
  try {
    const s = await openStream(y, Kind.grants);
    s.close().catch(() => {});
    return parseGrants(s.replyMessage || "");
  } catch (e) {
    if (e instanceof OpenError) return new Grants([], false);
    throw e;
  } finally {
    clearTimeout(timer);
  }
}
