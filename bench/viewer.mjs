// One viewer in headless Chromium for bench/chunks: opens a video's player page (hls.js)
// as soon as it plays, watches it muted at normal speed for WATCH_SECONDS or to its end,
// and prints one JSON line: how long it took to start, how often and how long it stalled.
//
//   PAGE_URL=http://127.0.0.1:8000/videos/<id> WATCH_SECONDS=360 node bench/viewer.mjs
import { createRequire } from 'node:module';

const require = createRequire(new URL('../web/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const PAGE_URL = process.env.PAGE_URL;
const WATCH_SECONDS = Number(process.env.WATCH_SECONDS ?? '60');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--autoplay-policy=no-user-gesture-required'];

const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
try {
  const page = await browser.newPage();
  const opened = Date.now();
  await page.goto(PAGE_URL);
  await page.waitForFunction(() => window.vodstackPlayer?.hls, null, { timeout: 120_000 });
  // A stall is a `waiting` event after playback began, until the next `playing`.
  await page.evaluate(() => {
    const video = document.getElementById('video');
    const seen = { started: null, stalls: 0, stalledMs: 0, since: null, ended: false };
    window.viewer = seen;
    video.addEventListener('playing', () => {
      seen.started ??= performance.now();
      if (seen.since !== null) seen.stalledMs += performance.now() - seen.since;
      seen.since = null;
    });
    video.addEventListener('waiting', () => {
      if (seen.started === null || seen.since !== null) return;
      seen.stalls += 1;
      seen.since = performance.now();
    });
    video.addEventListener('ended', () => { seen.ended = true; });
    video.muted = true;
    video.play();
  });
  await page.waitForFunction(() => window.viewer.started !== null, null, { timeout: 120_000 });
  const startedAfter = (Date.now() - opened) / 1000;
  await page.waitForFunction(
    (limit) => window.viewer.ended || document.getElementById('video').currentTime >= limit,
    WATCH_SECONDS,
    { timeout: (WATCH_SECONDS * 2 + 120) * 1000, polling: 500 },
  );
  const seen = await page.evaluate(() => ({
    ...window.viewer,
    // A stall still going on when the watch ends counts up to now.
    stalledMs: window.viewer.stalledMs + (window.viewer.since === null ? 0 : performance.now() - window.viewer.since),
    position: document.getElementById('video').currentTime,
    fatal: window.vodstackPlayer.errors.filter((e) => e.fatal).length,
    levels: window.vodstackPlayer.hls.levels.map((l) => l.height),
  }));
  console.log(JSON.stringify({
    started_after_seconds: startedAfter,
    watched_seconds: seen.position,
    ended: seen.ended,
    stalls: seen.stalls,
    stalled_seconds: seen.stalledMs / 1000,
    fatal_errors: seen.fatal,
    rungs_listed: seen.levels,
  }));
} finally {
  await browser.close();
}
