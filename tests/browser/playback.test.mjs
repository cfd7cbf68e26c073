// The web app in a real browser: upload through the upload page, wait on the player page
// until the video is ready, and play it with hls.js while the network is throttled and then
// freed, so that adaptive bitrate has to use more than one rendition.
//
// Run through pytest (tests/e2e/test_browser.py), which starts the server; standalone:
//   BASE_URL=http://127.0.0.1:8000 MEDIA_FILE=path/to/video node --test tests/browser/
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { test } from 'node:test';

const require = createRequire(new URL('../../web/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const BASE_URL = process.env.BASE_URL;
const MEDIA_FILE = process.env.MEDIA_FILE;
const API_KEY = process.env.API_KEY ?? '';
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
// Below the top rung's bitrate (about 1 Mbit/s for the sample) and above the bottom one's:
// hls.js can keep up only on the bottom rung.
const THROTTLED_BYTES_PER_SECOND = 100_000;
const TRANSCODE_TIMEOUT_MS = 180_000;

const skip = !BASE_URL ? 'BASE_URL is not set (pytest tests/e2e/test_browser.py sets it)'
  : !MEDIA_FILE || !existsSync(MEDIA_FILE) ? `MEDIA_FILE ${MEDIA_FILE} does not exist`
    : false;

test('upload, transcode and adaptive playback in Chromium', { skip, timeout: 240_000 }, async (t) => {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  t.after(() => browser.close());
  const page = await browser.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });

  // The key arrives as the demo hands it out: in the fragment, kept by the page.
  await page.goto(`${BASE_URL}/upload#key=${encodeURIComponent(API_KEY)}`);
  assert.equal(new URL(page.url()).hash, '', 'the key must leave the address bar');
  await page.setInputFiles('#file', MEDIA_FILE);
  const watch = page.locator('#watch');
  await watch.waitFor({ state: 'visible', timeout: 60_000 });
  const href = await watch.getAttribute('href');
  assert.match(href, /^\/videos\/[^/]+$/);

  // The page and hls.js load at full speed; only the video is throttled.
  await page.goto(`${BASE_URL}${href}`);
  // While the job runs, the page says where it stands, live: no reload follows.
  await page.waitForFunction(
    () => /is on attempt 1 of \d+, \d+% done|for a free worker/.test(document.getElementById('job-explanation').textContent),
    null,
    { timeout: 60_000 },
  );
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  const network = (downloadThroughput) => cdp.send('Network.emulateNetworkConditions', {
    offline: false, latency: 0, downloadThroughput, uploadThroughput: -1,
  });
  await network(THROTTLED_BYTES_PER_SECOND);

  await page.waitForFunction(() => window.vodstackPlayer?.hls?.levels?.length > 1, null, {
    timeout: TRANSCODE_TIMEOUT_MS,
  });
  const ladder = await page.evaluate(() => window.vodstackPlayer.hls.levels.map((l) => l.bitrate));
  const top = ladder.indexOf(Math.max(...ladder));
  await page.waitForFunction(
    (topLevel) => [...window.vodstackPlayer.levelsLoaded].some((level) => level !== topLevel),
    top,
    { timeout: 45_000 },
  );

  await network(-1);
  await page.evaluate(() => {
    const video = document.getElementById('video');
    video.muted = true; // autoplay policies allow muted playback without a user gesture
    return video.play();
  });
  await page.waitForFunction((topLevel) => window.vodstackPlayer.levelsLoaded.has(topLevel), top, {
    timeout: 30_000,
  });
  await page.waitForFunction(() => document.getElementById('video').currentTime > 2, null, {
    timeout: 30_000,
  });

  const state = await page.evaluate(() => ({
    levelsLoaded: [...window.vodstackPlayer.levelsLoaded],
    errors: window.vodstackPlayer.errors,
    videoError: document.getElementById('video').error?.message ?? null,
    stats: document.getElementById('stats').innerText,
  }));
  t.diagnostic(`levels loaded: ${state.levelsLoaded}; ${state.stats.replaceAll('\n', ' ')}`);
  const timeline = await page.locator('#timeline').textContent();
  for (const step of ['queued', 'claimed', 'probed', 'encoding', 'encoded', 'ready']) {
    assert.ok(timeline.includes(step), `the timeline lacks "${step}": ${timeline}`);
  }
  assert.equal(await page.locator('#job-status').textContent(), 'ready');
  assert.ok(state.levelsLoaded.length >= 2, `fragments came from one rendition only: ${state.levelsLoaded}`);
  assert.deepEqual(state.errors.filter((error) => error.fatal), []);
  assert.equal(state.videoError, null);
  assert.deepEqual(problems, []);
});
