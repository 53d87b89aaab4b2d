// Retrying a connection the host or the rendezvous refused only because too many sessions were
// being set up at once, as the native viewer does (viewer/viewer.go: busyReason, busyBackoff).
// Nothing was authenticated in such a refusal, so a one-time code is not used up by it.

// HOST_BUSY_REASON is the reason of the bye a host sends when its pre-authentication gate refuses
// an offer (session/errors.go, busyReason). Only the rendezvous puts a code in a bye, so the page
// recognises the host's refusal by this text.
export const HOST_BUSY_REASON = "the host has too many sessions authenticating; retry in a few seconds";

// BUSY_ATTEMPTS bounds the tries against a host that keeps refusing (about 20 s of waiting).
export const BUSY_ATTEMPTS = 12;

// busyReason says why a failed attempt may simply be tried again, or "" when it may not.
export function busyReason(err) {
  if (!err) return "";
  if (err.message === HOST_BUSY_REASON) return "the host is busy authenticating other sessions";
  if (err.code === "too_many_sessions") return "too many connection attempts are waiting for the host's answer";
  return "";
}

// busyBackoff is the wait in milliseconds before try attempt+1: from about 200 ms, doubling, at
// most 3 s, with jitter (half to one and a half times) so that viewers refused together do not
// come back together.
export function busyBackoff(attempt, random = Math.random) {
  const d = Math.min(200 * 2 ** Math.min(attempt - 1, 4), 3000);
  return Math.round(d / 2 + random() * d);
}

// BusyRetry follows one connection the user asked for through its attempts. after(err, run)
// schedules run() once more when err is a busy refusal and attempts remain, and returns what it
// does ({reason, attempt, waitMs}: attempt is the one about to start); otherwise it returns
// null. cancel() stops it for good: the user started another connection or disconnected.
export class BusyRetry {
  // setTimer and clearTimer default to the global timers, called as functions (a browser
  // refuses setTimeout called as a method of another object).
  constructor({ attempts = BUSY_ATTEMPTS, random = Math.random, setTimer = (fn, ms) => setTimeout(fn, ms), clearTimer = (id) => clearTimeout(id) } = {}) {
    this.attempts = attempts;
    this.random = random;
    this.setTimer = setTimer;
    this.clearTimer = clearTimer;
    this.attempt = 1; // the attempt running now
    this.timer = null;
    this.cancelled = false;
  }

  after(err, run) {
    const reason = busyReason(err);
    if (this.cancelled || !reason || this.attempt >= this.attempts) return null;
    const waitMs = busyBackoff(this.attempt, this.random);
    this.attempt++;
    this.timer = this.setTimer(() => {
      this.timer = null;
      if (!this.cancelled) run();
    }, waitMs);
    return { reason, attempt: this.attempt, waitMs };
  }

  // waiting says whether a retry is scheduled.
  get waiting() {
    return this.timer !== null && !this.cancelled;
  }

  cancel() {
    this.cancelled = true;
    if (this.timer !== null) this.clearTimer(this.timer);
    this.timer = null;
  }
}
