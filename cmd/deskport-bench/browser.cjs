// browser.cjs drives headless Chromium for deskport-bench: the time from opening the viewer page
// to its first decoded frame, and glass-to-glass latency read from xpattern's clock pattern.
// deskport-bench embeds it, writes it to a temp dir and runs it with node; PLAYWRIGHT_CORE is
// the path of the playwright-core package (internal/e2e/browser/node_modules/playwright-core).
// One JSON command a line on stdin, one JSON answer a line on stdout:
//   {"cmd":"first","url":"http://ADDR/#ID/CODE"}
//       -> {"ok":true,"first_frame_ms":N,"stats_ms":N}
//   {"cmd":"latency","url":...,"warmup":S,"seconds":S,"cols":12,"rows":4,"bits":48}
//       -> {"ok":true,"lat":[ms...],"bad":N,"frames":N}
'use strict';
const { chromium } = require(process.env.PLAYWRIGHT_CORE || 'playwright-core');
const readline = require('node:readline');

const reply = (o) => process.stdout.write(JSON.stringify(o) + '\n');

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--autoplay-policy=no-user-gesture-required',
      '--allow-loopback-in-peer-connection', '--disable-features=WebRtcHideLocalIpsWithMdns'],
  });

  // openPage opens url in a fresh context (no cached page or key) and records, with Date.now()
  // (the same clock as the host's), when the first video frame was presented
  // (requestVideoFrameCallback) and when the page's own stats first counted a decoded frame.
  async function openPage(url) {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await ctx.newPage();
    const logs = [];
    page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
    await page.addInitScript(() => {
      window.__bench = { first: 0, stats: 0, pcs: [] };
      // Keep the page's peer connections, for their inbound video stats (jitter buffer, decode).
      const PC = window.RTCPeerConnection;
      window.RTCPeerConnection = function (...args) {
        const pc = new PC(...args);
        window.__bench.pcs.push(pc);
        return pc;
      };
      window.RTCPeerConnection.prototype = PC.prototype;
      Object.setPrototypeOf(window.RTCPeerConnection, PC);
      document.addEventListener('DOMContentLoaded', () => {
        const v = document.getElementById('video');
        if (v) v.requestVideoFrameCallback(() => { window.__bench.first = window.__bench.first || Date.now(); });
      });
      const t = setInterval(() => {
        if (window.deskport && window.deskport.framesDecoded > 0) {
          window.__bench.stats = Date.now();
          clearInterval(t);
        }
      }, 5);
    });
    const t0 = Date.now();
    await page.goto(url);
    const end = Date.now() + 30000;
    for (;;) {
      const s = await page.evaluate(() => ({ b: window.__bench, state: window.deskport && window.deskport.state, error: window.deskport && window.deskport.error }));
      if (s.state === 'failed') throw new Error(`page failed: ${JSON.stringify(s.error)}; console:\n${logs.slice(-20).join('\n')}`);
      if (s.b.first && s.b.stats) return { ctx, page, t0, first: s.b.first, stats: s.b.stats };
      if (Date.now() > end) throw new Error(`no frame in 30s; state ${JSON.stringify(s)}; console:\n${logs.slice(-20).join('\n')}`);
      await page.waitForTimeout(20);
    }
  }

  const commands = {
    async first({ url }) {
      const p = await openPage(url);
      await p.ctx.close();
      return { first_frame_ms: p.first - p.t0, stats_ms: p.stats - p.t0 };
    },
    async latency({ url, warmup, seconds, cols, rows, bits }) {
      const p = await openPage(url);
      try {
        return await p.page.evaluate(({ warmup, seconds, cols, rows, bits }) => new Promise((resolve0) => {
          // The inbound video's jitter buffer and decode time per frame over the measurement.
          const video = async () => {
            for (const pc of window.__bench.pcs) {
              for (const r of (await pc.getStats()).values()) {
                if (r.type === 'inbound-rtp' && r.kind === 'video') return r;
              }
            }
            return null;
          };
          let v0 = null;
          setTimeout(async () => { v0 = await video(); }, warmup * 1000);
          const resolve = async (res) => {
            const v1 = await video();
            if (v0 && v1) {
              const n = (v1.jitterBufferEmittedCount || 0) - (v0.jitterBufferEmittedCount || 0);
              const d = (v1.framesDecoded || 0) - (v0.framesDecoded || 0);
              if (n > 0) {
                res.jb = 1000 * ((v1.jitterBufferDelay || 0) - (v0.jitterBufferDelay || 0)) / n;
                res.jbTarget = 1000 * ((v1.jitterBufferTargetDelay || 0) - (v0.jitterBufferTargetDelay || 0)) / n;
              }
              if (d > 0) res.decode = 1000 * ((v1.totalDecodeTime || 0) - (v0.totalDecodeTime || 0)) / d;
            }
            resolve0(res);
          };
          const v = document.getElementById('video');
          // The clock's cells are large; a small canvas with 8×8 pixels a cell keeps the
          // per-frame read cheap, and each cell's centre is far from the scaled edges.
          const c = document.createElement('canvas');
          c.width = cols * 8;
          c.height = rows * 8;
          const g = c.getContext('2d', { willReadFrequently: true });
          const lat = [];
          // held: the frame's last packet received → the frame presented (the jitter buffer,
          // decoding and the wait for the display), from requestVideoFrameCallback's metadata.
          const held = [];
          let bad = 0;
          let frames = 0;
          const t0 = Date.now();
          const mask = 2 ** bits;
          const step = (_, md) => {
            const now = Date.now();
            if (now - t0 > (warmup + seconds) * 1000) return resolve({ lat, bad, frames, held });
            if (now - t0 >= warmup * 1000) {
              if (md && md.receiveTime > 0 && md.presentationTime > 0) held.push(md.presentationTime - md.receiveTime);
              g.drawImage(v, 0, 0, c.width, c.height);
              const px = g.getImageData(0, 0, c.width, c.height).data;
              let shown = 0;
              for (let i = 0; i < bits; i++) {
                const x = (i % cols) * 8 + 4;
                const y = Math.floor(i / cols) * 8 + 4;
                const o = (y * c.width + x) * 4;
                if (((px[o] * 77 + px[o + 1] * 150 + px[o + 2] * 29) >> 8) >= 128) shown += 2 ** i;
              }
              let d = (now % mask) - shown;
              if (d < 0) d += mask;
              frames++;
              // A misread cell gives a wild value; a real delay is never seconds here.
              if (d > 5000) bad++;
              else lat.push(d);
            }
            v.requestVideoFrameCallback(step);
          };
          v.requestVideoFrameCallback(step);
        }), { warmup, seconds, cols, rows, bits });
      } finally {
        await p.ctx.close();
      }
    },
  };

  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (!line.trim()) continue;
    let req;
    try {
      req = JSON.parse(line);
      if (req.cmd === 'quit') break;
      const f = commands[req.cmd];
      if (!f) throw new Error(`unknown command ${req.cmd}`);
      reply({ ok: true, ...(await f(req)) });
    } catch (e) {
      reply({ ok: false, error: String((e && e.message) || e) });
    }
  }
  await browser.close();
}

main().catch((e) => {
  reply({ ok: false, error: String((e && e.message) || e) });
  process.exit(1);
});
