// viewer.mjs drives the deskport browser viewer in headless Chromium for the Go end-to-end tests.
// It reads one command per line on stdin and answers one JSON line per command on stdout:
//   open URL CODE        open the page, type the code, press Connect
//   goto URL             open the page only
//   wait-verified        wait until the page is authenticated and a frame is decoded
//   wait-error           wait until the page shows an error; answers its text
//   sample X,Y X,Y ...   read the colours of the decoded <video> frame at normalised points
//   screenshot PATH      save a screenshot of the page
//   wait-text ID WORDS   wait until element ID's text contains WORDS; answers the text
//   state                window.deskport as JSON
//   button ID            click the button with id ID (Connect, Disconnect, ...)
//   text SELECTOR        the text content of the first element SELECTOR matches
//   controls             the toolbar controls' disabled state and titles, and #status
//   quit
import { chromium } from 'playwright-core';
import readline from 'node:readline';

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--autoplay-policy=no-user-gesture-required',
    // Loopback ICE candidates only: the tests keep every packet on 127.0.0.1.
    '--allow-loopback-in-peer-connection', '--disable-features=WebRtcHideLocalIpsWithMdns',
    // CHROMIUM_EXTRA_ARGS: a JSON array of more arguments (a test CA's key to trust, ...).
    ...JSON.parse(process.env.CHROMIUM_EXTRA_ARGS || '[]')],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
await context.grantPermissions(['clipboard-read', 'clipboard-write']);
const page = await context.newPage();
const logs = [];
page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));

const reply = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const state = () => page.evaluate(() => JSON.parse(JSON.stringify(window.deskport || {})));

async function waitFor(pred, timeoutMs) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const s = await state();
    if (pred(s)) return s;
    if (Date.now() > end) throw new Error(`timed out; state ${JSON.stringify(s)}; console:\n${logs.slice(-30).join('\n')}`);
    await page.waitForTimeout(50);
  }
}

const commands = {
  async open(url, code) {
    await page.goto(url);
    if (code) await page.fill('#code', code);
    await page.click('#connect');
    return { ok: true };
  },
  async goto(url) {
    await page.goto(url);
    return { ok: true };
  },
  async 'wait-verified'() {
    const s = await waitFor((s) => s.state === 'failed' || (s.state === 'verified' && (s.framesDecoded || 0) > 0), 30000);
    if (s.state === 'failed') throw new Error(`page failed: ${s.error}`);
    return { ok: true, state: s };
  },
  async 'wait-error'() {
    await waitFor((s) => s.state === 'failed' || !!s.error, 30000);
    const text = await page.textContent('#error');
    const s = await state();
    return { ok: true, error: text, state: s };
  },
  async sample(...points) {
    const pts = points.map((p) => p.split(',').map(Number));
    // Wait for a fresh decoded frame so a change on the host is reflected.
    const colours = await page.evaluate(async (pts) => {
      const v = document.querySelector('#video');
      // Prefer a freshly presented frame; a static screen presents none, so do not wait long.
      await new Promise((res) => { if (v.requestVideoFrameCallback) v.requestVideoFrameCallback(() => res()); setTimeout(res, 300); });
      const c = document.createElement('canvas');
      c.width = v.videoWidth; c.height = v.videoHeight;
      const g = c.getContext('2d', { willReadFrequently: true });
      g.drawImage(v, 0, 0);
      return { width: c.width, height: c.height, px: pts.map(([x, y]) => Array.from(g.getImageData(Math.floor(x * c.width), Math.floor(y * c.height), 1, 1).data.slice(0, 3))) };
    }, pts);
    return { ok: true, ...colours };
  },
  async 'wait-input'() {
    const s = await waitFor((s) => s.state === 'failed' || (s.input && (s.input.state === 'on' || s.input.state === 'unavailable')), 30000);
    if (!s.input || s.input.state !== 'on') throw new Error(`input not available: ${JSON.stringify(s.input)}`);
    return { ok: true };
  },
  // click FX FY: a real mouse click at a point of the remote screen given as fractions.
  async click(fx, fy) {
    const p = await page.evaluate(([x, y]) => window.deskport.input.pointAt(x, y), [Number(fx), Number(fy)]);
    await page.mouse.click(p.x, p.y);
    return { ok: true, at: p };
  },
  async move(fx, fy) {
    const p = await page.evaluate(([x, y]) => window.deskport.input.pointAt(x, y), [Number(fx), Number(fy)]);
    await page.mouse.move(p.x, p.y);
    return { ok: true, at: p };
  },
  // type JSON-STRING: types the text with real key events.
  async type(...words) {
    await page.keyboard.type(JSON.parse(words.join(' ')), { delay: 20 });
    return { ok: true };
  },
  async press(key) {
    await page.keyboard.press(key);
    return { ok: true };
  },
  async wheel(dy) {
    await page.mouse.wheel(0, Number(dy));
    return { ok: true };
  },
  // clip-write JSON-STRING: puts text on the browser's clipboard.
  async 'clip-write'(...words) {
    await page.evaluate((t) => navigator.clipboard.writeText(t), JSON.parse(words.join(' ')));
    return { ok: true };
  },
  async 'clip-read'() {
    return { ok: true, text: await page.evaluate(() => navigator.clipboard.readText()) };
  },
  async 'clip-sync'() {
    await page.click('#clipboard-sync');
    await waitFor((s) => s.clipboard && (s.clipboard.state === 'on' || s.clipboard.state === 'denied' || s.clipboard.state === 'unavailable' || s.clipboard.state === 'error'), 15000);
    const s = await state();
    if (s.clipboard.state !== 'on') throw new Error(`clipboard sync: ${JSON.stringify(s.clipboard)}`);
    return { ok: true, clipboard: s.clipboard };
  },
  // clip-wait JSON-STRING: waits until the page received this text from the host.
  async 'clip-wait'(...words) {
    const want = JSON.parse(words.join(' '));
    const s = await waitFor((s) => s.clipboard && s.clipboard.lastReceived === want, 15000);
    return { ok: true, clipboard: s.clipboard };
  },
  // wait-control: the control stream is up, the host listed its monitors and sent stats.
  async 'wait-control'() {
    const s = await waitFor((s) => s.control && (s.control.state === 'unavailable' || (s.control.state === 'on' && s.control.hostStats)), 20000);
    if (s.control.state !== 'on') throw new Error(`control stream: ${JSON.stringify(s.control)}`);
    return { ok: true, control: s.control };
  },
  // monitor N: picks monitor N in the page's monitor list (a switch on the control stream).
  async monitor(n) {
    await page.selectOption('#monitor', String(n));
    return { ok: true };
  },
  async screenshot(path) {
    await page.screenshot({ path });
    return { ok: true };
  },
  async text(selector) {
    return { ok: true, text: await page.textContent(selector) };
  },
  async 'wait-text'(id, ...words) {
    const want = words.join(' ');
    const end = Date.now() + 20000;
    for (;;) {
      const text = await page.evaluate((id) => (document.getElementById(id) || {}).textContent || '', id);
      if (text.includes(want)) return { ok: true, text };
      if (Date.now() > end) throw new Error(`#${id} never showed "${want}"; it shows:\n${text}`);
      await page.waitForTimeout(100);
    }
  },
  async state() {
    return { ok: true, state: await state() };
  },
  // controls: whether each feature's control is offered (disabled, title), the files panel,
  // and what #status says (its title lists what was not granted).
  async controls() {
    return {
      ok: true,
      ...(await page.evaluate(() => {
        const controls = {};
        for (const id of ['files', 'clipboard-sync', 'special-keys', 'pointer-lock']) {
          const e = document.getElementById(id);
          controls[id] = { disabled: !!e.disabled, title: e.title };
        }
        const st = document.getElementById('status');
        return {
          controls,
          filesPanelHidden: document.getElementById('files-panel').hidden,
          status: st.textContent,
          statusTitle: st.title,
          videoTitle: document.getElementById('video').title,
        };
      })),
    };
  },
  async button(id) {
    await page.click('#' + id);
    return { ok: true };
  },
  async logs() {
    return { ok: true, logs };
  },
  // drop NAME SIZE: drops a file of SIZE bytes (byte i is i % 251) named NAME (URI-encoded) on
  // the picture, as a person drags one from their desktop, and waits for the upload to end.
  async drop(name, size) {
    await page.evaluate(([name, size]) => {
      const dt = new DataTransfer();
      dt.items.add(new File([new Uint8Array(size).map((_, i) => i % 251)], name));
      const stage = document.getElementById('stage');
      stage.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
      stage.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    }, [decodeURIComponent(name), Number(size)]);
    const end = Date.now() + 60000;
    for (;;) {
      const label = await page.textContent('#upload-label');
      if (/: (done|failed)/.test(label)) return { ok: label.endsWith(': done'), label, error: label };
      if (Date.now() > end) throw new Error(`upload never ended: ${label}`);
      await page.waitForTimeout(100);
    }
  },
  // files-open: opens the Files panel (a click, as a person does) and answers the names it
  // lists and the panel's error once the listing is done.
  async 'files-open'() {
    // A session not granted files has the button disabled: list through the page's API then,
    // which still asks the host (and shows its refusal).
    if ((await page.isHidden('#files-panel')) && (await page.isEnabled('#files'))) await page.click('#files');
    const names = await page.evaluate(async () => (await window.deskport.files.list('.')).map((e) => e.name));
    return { ok: true, names, error: await page.textContent('#files-error') };
  },
  // download NAME PATH: clicks NAME (URI-encoded) in the Files panel and saves what the browser
  // downloads to PATH.
  async download(name, path) {
    const [dl] = await Promise.all([
      page.waitForEvent('download', { timeout: 60000 }),
      page.click(`#files-list a[data-path$="${decodeURIComponent(name).replace(/"/g, '\\"')}"]`),
    ]);
    await dl.saveAs(path);
    return { ok: true, suggested: dl.suggestedFilename() };
  },
};

const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
  const [cmd, ...args] = line.trim().split(/\s+/);
  if (!cmd) continue;
  if (cmd === 'quit') break;
  try {
    const f = commands[cmd];
    if (!f) throw new Error(`unknown command ${cmd}`);
    reply(await f(...args));
  } catch (e) {
    reply({ ok: false, error: String(e && e.message || e), logs: logs.slice(-30) });
  }
}
await browser.close();
