// Runs src/grants.js (the page's question of what its session may do) over src/yamux.js against
// the Go mux server in web/grants_test.go, over stdin/stdout. The server answers the grants opens
// in order: "view"; the full list, held until this side opens a tcp stream (so the answer comes
// only after the page said it waits); "none"; then refuses with unsupported and not_allowed.
// The exit code is the verdict; stderr says what failed.

import fs from "node:fs";
import { Session } from "../src/yamux.js";
import { Kind, openStream } from "../src/mux.js";
import { CAPABILITIES, Grants, WAITING_TEXT, askGrants, describeGrants, notGrantedText, parseGrants } from "../src/grants.js";

const log = (...a) => process.stderr.write(`grants-node: ${a.join(" ")}\n`);
function check(ok, what) {
  if (!ok) throw new Error("check failed: " + what);
}

const out = fs.createWriteStream(null, { fd: 1 });
const session = new Session({
  send: (b) => out.write(b),
  full: () => out.writableNeedDrain,
  waitDrain: () => new Promise((resolve) => out.once("drain", resolve)),
  close: () => out.end(),
});
process.stdin.on("data", (b) => session.receive(new Uint8Array(b.buffer, b.byteOffset, b.length)));
process.stdin.on("end", () => session.transportClosed(null));

function pure() {
  const all = parseGrants("view,control,clipboard,files,forward,listen");
  check(CAPABILITIES.every((n) => all.has(n)) && all.missing().length === 0, "the full list grants everything");
  check(describeGrants(all) === "allowed: view, control, clipboard, files, forward, listen", `describe all: ${describeGrants(all)}`);
  const view = parseGrants("view");
  check(describeGrants(view) === "view only" && view.has("view") && !view.has("files") && !view.has("control"), "view only");
  check(view.missing().join(",") === "control,clipboard,files,forward,listen", `missing: ${view.missing()}`);
  check(String(view) === "view", "view as text");
  const none = parseGrants("none");
  check(none.known && none.names.length === 0 && !none.has("view") && describeGrants(none) === "nothing granted" && String(none) === "none", "none");
  check(parseGrants(" view , files ,view").names.join(",") === "view,files", "spaces and repeats");
  const unknown = new Grants([], false);
  check(unknown.has("files") && unknown.missing().length === 0 && describeGrants(unknown) === "" && String(unknown) === "unknown", "unknown grants offer everything");
  const code = notGrantedText(view, "files", "code");
  check(code === "file transfer was not granted to this session (granted: view); the host's owner grants it to a one-time code with host --code --grant view,files (and [a] when the host asks)", code);
  const key = notGrantedText(parseGrants("view,control,clipboard,forward,listen"), "files", "key");
  check(key.includes("(granted: view,control,clipboard,forward,listen)") && key.includes("removes no-files from this browser's line in the host's authorized_viewers"), key);
  check(WAITING_TEXT === "waiting for the host's owner to accept this session (they are asked on the host)…", "the native viewer's words");
}

async function main() {
  pure();
  let waited = 0;
  // 1: answered at once, long before the notice.
  let g = await askGrants(session, { onWaiting: () => waited++, noticeMs: 10000 });
  check(g.known && String(g) === "view" && waited === 0, `first answer ${g}, waited ${waited}`);

  // 2: answered only after the page said it waits.
  g = await askGrants(session, {
    noticeMs: 50,
    onWaiting: async () => {
      waited++;
      const s = await openStream(session, Kind.tcp, "release");
      await s.close();
    },
  });
  check(g.known && g.names.length === 6 && waited === 1, `held answer ${g}, waited ${waited}`);

  // 3: none.
  g = await askGrants(session);
  check(g.known && !g.has("view") && String(g) === "none", `third answer ${g}`);

  // 4, 5: refused (a host from before the question; too many opens): unknown, everything offered.
  for (const what of ["unsupported", "not_allowed"]) {
    g = await askGrants(session);
    check(!g.known && g.has("files") && g.has("control"), `${what}: ${g}`);
  }

  // A session that ends rejects.
  session.close();
  let failed = false;
  try {
    await askGrants(session);
  } catch {
    failed = true;
  }
  check(failed, "asking on a closed session rejects");
  process.stdin.destroy();
}

main().catch((e) => {
  log(e.stack || e);
  process.exit(1);
});
