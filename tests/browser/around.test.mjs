// What the pages show around the stream, in a real browser, for a ready video that has a
// caption track: the library's thumbnail, the player's poster, the storyboard tile over the
// seek bar, the captions menu; and screenshots of both pages into SCREENSHOT_DIR.
//
// Run through pytest (tests/e2e/test_browser.py), which starts the server, uploads the
// video and waits until it is ready; standalone:
// BASE_URL=http://127.0.0.1:8000 API_KEY=... VIDEO_ID=... SCREENSHOT_DIR=/tmp/shots node --test tests/browser/around.test.mjs
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';

const require = createRequire(new URL('../../web/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const { BASE_URL, VIDEO_ID, SCREENSHOT_DIR } = process.env;
const API_KEY = process.env.API_KEY ?? '';
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'];
const skip = !BASE_URL || !VIDEO_ID || !SCREENSHOT_DIR
  ? 'BASE_URL, VIDEO_ID and SCREENSHOT_DIR are not set (pytest tests/e2e/test_browser.py sets them)'
  : false;

async function openPage(t) {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  const problems = [];
  page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  return { page, problems };
}

test('the library, the player and its previews around the stream', { skip, timeout: 120_000 }, async (t) => {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const { page, problems } = await openPage(t);

  await page.goto(`${BASE_URL}/#key=${encodeURIComponent(API_KEY)}`);
  const thumbnail = page.locator(`li[data-id="${VIDEO_ID}"] .thumb img`);
  await thumbnail.waitFor({ state: 'attached', timeout: 20_000 });
  await page.waitForFunction(
    (id) => document.querySelector(`li[data-id="${id}"] .thumb img`)?.naturalWidth > 0,
    VIDEO_ID,
    { timeout: 20_000 },
  );
  assert.match(await thumbnail.getAttribute('alt'), /^Thumbnail of /);
  assert.equal(await thumbnail.getAttribute('loading'), 'lazy');
  assert.match(await thumbnail.getAttribute('src'), /thumbnail\.jpg\?(.*&)?width=320/);
  await page.screenshot({ path: join(SCREENSHOT_DIR, 'library.png'), fullPage: true });

  await page.goto(`${BASE_URL}/videos/${encodeURIComponent(VIDEO_ID)}`);
  await page.waitForFunction(() => document.getElementById('video').poster !== '', null, { timeout: 30_000 });
  const poster = await page.evaluate(() => document.getElementById('video').poster);
  assert.match(poster, /thumbnail\.jpg\?(.*&)?width=(640|1280)/);
  const posterLoads = await page.evaluate(async (url) => (await fetch(url)).ok, poster);
  assert.ok(posterLoads, `the poster ${poster} does not load`);

  // The storyboard tile over the seek bar, where the pointer hovers (at 60 % of the way).
  await page.waitForFunction(() => window.vodstackPlayer.storyboard > 0, null, { timeout: 30_000 });
  await page.waitForFunction(() => Number(document.getElementById('seek-range').max) > 0, null, { timeout: 30_000 });
  const bar = await page.locator('#seek-range').boundingBox();
  await page.mouse.move(bar.x + bar.width * 0.6, bar.y + bar.height / 2);
  await page.locator('#preview-tile').waitFor({ state: 'visible', timeout: 5_000 });
  const preview = await page.evaluate(() => ({
    shownFor: window.vodstackPlayer.previewShownFor,
    duration: document.getElementById('video').duration,
    image: getComputedStyle(document.getElementById('preview-tile')).backgroundImage,
    time: document.getElementById('preview-time').textContent,
    cues: window.vodstackPlayer.storyboard,
  }));
  t.diagnostic(`preview: ${JSON.stringify(preview)}`);
  assert.ok(Math.abs(preview.shownFor - preview.duration * 0.6) < preview.duration * 0.05, 'the preview is not for the hovered time');
  assert.match(preview.image, /^url\(".*\/storyboard\/.*sheet_\d+\.jpg(\?.*)?"\)$/);
  assert.match(preview.time, /^\d+:\d{2}$/);
  const sheetLoads = await page.evaluate(async () => (await fetch(window.vodstackPlayer.previewImage)).ok);
  assert.ok(sheetLoads, `the storyboard sheet ${preview.image} does not load`);

  // The seek bar takes the keyboard too: an arrow key skips 5 s.
  await page.locator('#seek-range').focus();
  await page.keyboard.press('ArrowRight');
  await page.waitForFunction(() => document.getElementById('video').currentTime >= 4.9, null, { timeout: 5_000 });
  assert.ok(await page.evaluate(() => document.activeElement.id === 'seek-range'));

  // The captions menu lists the master playlist's subtitle tracks; choosing one shows it.
  await page.waitForFunction(() => window.vodstackPlayer.captionTracks.length > 0, null, { timeout: 30_000 });
  const captions = page.locator('#captions');
  assert.equal(await captions.isVisible(), true);
  const options = await captions.locator('option').allTextContents();
  t.diagnostic(`captions: ${JSON.stringify(options)}`);
  assert.equal(options[0], 'Off');
  await captions.selectOption('0');
  await page.waitForFunction(() => window.vodstackPlayer.hls.subtitleTrack === 0, null, { timeout: 10_000 });
  assert.equal(await page.evaluate(() => window.vodstackPlayer.hls.subtitleDisplay), true);

  await page.screenshot({ path: join(SCREENSHOT_DIR, 'player.png'), fullPage: true });
  assert.deepEqual(problems, []);
});

test('the embed page plays the video alone, with its captions menu', { skip, timeout: 60_000 }, async (t) => {
  const { page, problems } = await openPage(t);
  await page.goto(`${BASE_URL}/embed/${encodeURIComponent(VIDEO_ID)}`);
  await page.waitForFunction(() => window.vodstackPlayer?.hls?.levels?.length > 0, null, { timeout: 30_000 });
  assert.match(await page.evaluate(() => document.getElementById('video').poster), /thumbnail\.jpg\?(.*&)?width=1280/);
  assert.equal(await page.locator('header, nav').count(), 0, 'the embed has no site chrome');
  await page.waitForFunction(() => window.vodstackPlayer.captionTracks.length > 0, null, { timeout: 30_000 });
  assert.equal(await page.locator('#captions').isVisible(), true);
  await page.screenshot({ path: join(SCREENSHOT_DIR, 'embed.png') });
  assert.deepEqual(problems, []);
});
