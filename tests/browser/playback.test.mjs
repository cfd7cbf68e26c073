// The web app in a real browser.
// - A video that is playable (its first chunks are in, a later part is held by the worker)
//   plays from its start across a chunk boundary; the hold is released, and the player and
//   an embed opened meanwhile take the whole ladder in place, without a stall; the video,
//   now ready, plays on to its end.
// - Upload through the upload page, wait on the player page until the video is ready, and
//   play it with hls.js while the network is throttled and then freed, so that adaptive
//   bitrate has to use more than one rendition.
//
// Run through pytest (tests/e2e/test_browser.py), which starts the server and the workers;
// standalone: BASE_URL=http://127.0.0.1:8000 MEDIA_FILE=path/to/video node --test tests/browser/
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
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

// A video held playable: its first tier (240p) and its audio are in, its 332p is not.
const VIDEO_ID = process.env.VIDEO_ID;
// The file whose existence lets the worker publish the held part.
const RELEASE_FILE = process.env.RELEASE_FILE;
const CHUNK_BOUNDARY_SECONDS = 6; // the first chunk's end
// How long the held video is: tests/support/split.py cuts it.
const VIDEO_SECONDS = Number(process.env.VIDEO_SECONDS);

// The player page may wait this long for data while it takes the new master, at most: a
// reload, or a new MediaSource, waits for the first segment again, and shows no picture.
const SWAP_WAIT_MS = 500;
// Where the embed is paused while the ladder grows.
const EMBED_PAUSED_AT = 3;

const noServer = !BASE_URL && 'BASE_URL is not set (pytest tests/e2e/test_browser.py sets it)';
const skip = noServer
  || (!MEDIA_FILE || !existsSync(MEDIA_FILE) ? `MEDIA_FILE ${MEDIA_FILE} does not exist` : false);
const skipPlayable = noServer
  || (!VIDEO_ID || !RELEASE_FILE || !VIDEO_SECONDS ? 'VIDEO_ID, VIDEO_SECONDS and RELEASE_FILE are not set (pytest tests/e2e/test_browser.py holds a video playable and sets them)' : false);

// A page in a fresh headless Chromium, and the page's uncaught errors and console errors.
async function openPage(t) {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  t.after(() => browser.close());
  const problems = [];
  const newPage = async () => {
    const page = await browser.newPage();
    page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
    return page;
  };
  return { page: await newPage(), problems, newPage };
}

// Plays the video muted (autoplay policies allow that without a user gesture) at twice its
// speed, noting where playback started, each stall after that, and the end. Every segment is
// still fetched and played; only the wait for the end is halved.
function playNoting() {
  const video = document.getElementById('video');
  video.playbackRate = 2;
  const seen = { startedAt: null, stalls: 0, ended: false };
  window.playbackSeen = seen;
  video.addEventListener('playing', () => { seen.startedAt ??= video.currentTime; });
  video.addEventListener('waiting', () => { if (seen.startedAt !== null) seen.stalls += 1; });
  video.addEventListener('ended', () => { seen.ended = true; });
  video.muted = true;
  return video.play();
}

// From a little after the start, at normal speed, noting what the element goes through
// while the ladder is taken: each wait for data and how long it lasted, a torn-down media
// element (emptied), and the clock going back.
function watchTheSwap(from) {
  const video = document.getElementById('video');
  const seen = { waits: [], waitingSince: null, emptied: 0, backwards: [], last: from, swapsAt: [] };
  window.swapSeen = seen;
  video.playbackRate = 1;
  video.currentTime = from;
  video.addEventListener('waiting', () => { seen.waitingSince ??= performance.now(); });
  const ended = () => {
    if (seen.waitingSince === null) return;
    seen.waits.push(performance.now() - seen.waitingSince);
    seen.waitingSince = null;
  };
  video.addEventListener('playing', ended);
  video.addEventListener('timeupdate', () => {
    if (video.currentTime + 0.05 < seen.last) seen.backwards.push([seen.last, video.currentTime]);
    seen.last = video.currentTime;
    if (!video.paused && video.readyState >= 3) ended();
  });
  video.addEventListener('emptied', () => { seen.emptied += 1; });
  const seeked = new Promise((resolve) => { video.addEventListener('seeked', resolve, { once: true }); });
  return Promise.all([seeked, video.play()]);
}

function swapState() {
  const video = document.getElementById('video');
  const seen = window.swapSeen;
  const waiting = seen.waitingSince === null ? [] : [performance.now() - seen.waitingSince];
  return {
    currentTime: video.currentTime,
    paused: video.paused,
    longestWaitMs: Math.max(0, ...seen.waits, ...waiting),
    emptied: seen.emptied,
    backwards: seen.backwards,
    swaps: window.vodstackPlayer.stream?.swaps ?? 0,
    // The heights the quality menu offers, after its Auto entry.
    quality: [...document.querySelectorAll('#quality option')].slice(1).map((option) => option.textContent.split('p')[0]),
  };
}

// Paused at `time`, with that frame on screen; what the element goes through is noted.
function pauseAt(time) {
  const video = document.getElementById('video');
  const seen = { emptied: 0 };
  window.swapSeen = seen;
  video.addEventListener('emptied', () => { seen.emptied += 1; });
  video.pause();
  video.currentTime = time;
  return new Promise((resolve) => { video.addEventListener('seeked', resolve, { once: true }); });
}

function embedState() {
  const video = document.getElementById('video');
  return {
    currentTime: video.currentTime,
    paused: video.paused,
    readyState: video.readyState,
    visibility: document.visibilityState,
    emptied: window.swapSeen.emptied,
    levels: window.vodstackPlayer.hls?.levels.map((level) => level.height) ?? [],
    swaps: window.vodstackPlayer.stream?.swaps ?? 0,
    fatal: window.vodstackPlayer.errors.filter((error) => error.fatal),
  };
}

function playerState() {
  const video = document.getElementById('video');
  return {
    ...window.playbackSeen,
    currentTime: video.currentTime,
    duration: video.duration,
    levels: window.vodstackPlayer.hls?.levels.map((level) => level.height) ?? [],
    levelsLoaded: [...window.vodstackPlayer.levelsLoaded],
    fatal: window.vodstackPlayer.errors.filter((error) => error.fatal),
    videoError: video.error?.message ?? null,
  };
}

test('a playable video plays across a chunk boundary, and to its end once ready', { skip: skipPlayable, timeout: 180_000 }, async (t) => {
  const { page, problems, newPage } = await openPage(t);
  await page.goto(`${BASE_URL}/videos/${encodeURIComponent(VIDEO_ID)}#key=${encodeURIComponent(API_KEY)}`);
  // What plays now, and what is to come.
  await page.waitForFunction(
    () => /^Playable at 240p; 332p (soon|in about \d+ (s|min))$/.test(document.getElementById('pending-text').textContent),
    null,
    { timeout: 30_000 },
  );
  assert.equal(await page.locator('#status').textContent(), 'playable');
  await page.waitForFunction(() => window.vodstackPlayer?.hls?.levels?.length > 0, null, { timeout: 30_000 });
  // An embed opened while the video is playable, paused on a frame.
  const embed = await newPage();
  await embed.goto(`${BASE_URL}/embed/${encodeURIComponent(VIDEO_ID)}`);
  await embed.waitForFunction(() => window.vodstackPlayer?.hls?.levels?.length > 0, null, { timeout: 30_000 });
  await embed.evaluate(pauseAt, EMBED_PAUSED_AT);
  assert.deepEqual((await embed.evaluate(embedState)).levels, [240]);

  await page.evaluate(playNoting);
  await page.waitForFunction(
    (boundary) => document.getElementById('video').currentTime > boundary + 1,
    CHUNK_BOUNDARY_SECONDS,
    { timeout: 60_000 },
  );
  const playable = await page.evaluate(playerState);
  t.diagnostic(`while playable: ${JSON.stringify(playable)}`);
  assert.ok(playable.startedAt < 1, `hls.js started at ${playable.startedAt} s, not at the start`);
  assert.deepEqual(playable.levels, [240], 'a playable video lists its first tier only');
  assert.deepEqual(playable.fatal, []);
  assert.equal(await page.locator('#status').textContent(), 'playable', 'the hold must outlast this');

  // The player back near the start, playing at normal speed while the rest is published.
  await page.evaluate(watchTheSwap, 0.5);
  await page.waitForFunction(() => document.getElementById('video').currentTime > 1, null, { timeout: 10_000 });
  const released = performance.now();
  writeFileSync(RELEASE_FILE, '');
  await page.waitForFunction(() => document.getElementById('status').textContent === 'ready', null, {
    timeout: 60_000,
  });
  const readyMs = performance.now() - released;
  assert.equal(await page.locator('#pending').isHidden(), true);
  // Without a reload, the quality menu lists every rung.
  await page.waitForFunction(
    () => [...document.querySelectorAll('#quality option')].slice(1).map((o) => o.textContent.split('p')[0]).join() === '332,240',
    null,
    { timeout: 30_000 },
  );
  const swappedMs = performance.now() - released;
  const atSwap = (await page.evaluate(swapState)).currentTime;
  // and the clock went on from where it was.
  await page.waitForFunction((from) => document.getElementById('video').currentTime > from + 1, atSwap, { timeout: 10_000 });
  const swap = await page.evaluate(swapState);
  t.diagnostic(`ready ${Math.round(readyMs)} ms after the release, whole ladder on the page after ${Math.round(swappedMs)} ms: ${JSON.stringify(swap)}`);
  assert.equal(swap.swaps, 1, 'one new master, taken once');
  assert.deepEqual(swap.quality, ['332', '240']);
  assert.equal(swap.emptied, 0, 'the media element was torn down');
  assert.deepEqual(swap.backwards, [], 'the clock went back');
  assert.ok(swap.longestWaitMs < SWAP_WAIT_MS, `playback waited ${swap.longestWaitMs} ms for data`);
  assert.equal(swap.paused, false);
  // The new rung plays, chosen in the menu.
  const top = await page.evaluate(() => window.vodstackPlayer.hls.levels.findIndex((level) => level.height === 332));
  await page.selectOption('#quality', String(top));
  await page.waitForFunction((level) => window.vodstackPlayer.levelsLoaded.has(level), top, { timeout: 30_000 });

  // The embed took the whole ladder too, and stayed paused on its frame.
  await embed.waitForFunction(() => window.vodstackPlayer.hls?.levels?.length === 2, null, { timeout: 30_000 });
  const embedded = await embed.evaluate(embedState);
  t.diagnostic(`embed: ${JSON.stringify(embedded)}`);
  assert.deepEqual([...embedded.levels].sort((a, b) => b - a), [332, 240]);
  assert.equal(embedded.swaps, 1);
  assert.equal(embedded.paused, true);
  assert.ok(Math.abs(embedded.currentTime - EMBED_PAUSED_AT) < 0.01, `the embed moved to ${embedded.currentTime} s`);
  assert.ok(embedded.readyState >= 2, 'the embed lost its frame');
  assert.equal(embedded.emptied, 0, 'the embed\'s media element was torn down');
  assert.deepEqual(embedded.fatal, []);

  // On to the end, at twice the speed.
  await page.evaluate(() => { document.getElementById('video').playbackRate = 2; });
  await page.waitForFunction(() => window.playbackSeen.ended, null, { timeout: 90_000 });
  const ended = await page.evaluate(playerState);
  t.diagnostic(`stalls after playback started: ${ended.stalls}`);
  t.diagnostic(`at the end: ${JSON.stringify(ended)}`);
  assert.ok(Math.abs(ended.duration - VIDEO_SECONDS) < 0.5, `the video lasts ${ended.duration} s`);
  assert.ok(ended.currentTime > VIDEO_SECONDS - 0.5, `it ended at ${ended.currentTime} s`);
  assert.deepEqual(ended.fatal, []);
  assert.equal(ended.videoError, null);
  assert.deepEqual(problems, []);
});

test('upload, transcode and adaptive playback in Chromium', { skip, timeout: 240_000 }, async (t) => {
  const { page, problems } = await openPage(t);

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
  // The quality receipt: a row per rung, each with its sampled VMAF, each published.
  await page.locator('#receipt').waitFor({ state: 'visible' });
  const receipt = await page.locator('#receipt-rows tr').evaluateAll((rows) => rows.map((row) => ({
    rung: row.dataset.rung, vmaf: Number(row.querySelector('[data-vmaf]').dataset.vmaf), verdict: row.lastElementChild.textContent,
  })));
  assert.ok(receipt.length >= 2, `the receipt lists ${receipt.length} rungs`);
  for (const row of receipt) {
    assert.ok(row.vmaf > 40 && row.vmaf <= 100, `${row.rung}: VMAF ${row.vmaf}`);
    assert.ok(row.verdict.startsWith('published'), `${row.rung}: ${row.verdict}`);
  }
  assert.match(await page.locator('#receipt-ffmpeg').textContent(), /^ffmpeg version /);
  assert.ok(state.levelsLoaded.length >= 2, `fragments came from one rendition only: ${state.levelsLoaded}`);
  assert.deepEqual(state.errors.filter((error) => error.fatal), []);
  assert.equal(state.videoError, null);
  assert.deepEqual(problems, []);
});

// A direct-upload link (made by pytest with the admin's key): the page uploads with the
// link's token alone, in a browser that holds no key, and says for whom.
const DIRECT_URL = process.env.DIRECT_URL;
const skipDirect = noServer
  || (!DIRECT_URL || !MEDIA_FILE || !existsSync(MEDIA_FILE) ? 'DIRECT_URL and MEDIA_FILE are not set (pytest tests/e2e/test_browser.py sets them)' : false);

test('a direct-upload link uploads without a key', { skip: skipDirect, timeout: 120_000 }, async (t) => {
  const { page, problems } = await openPage(t);
  await page.goto(DIRECT_URL);
  assert.equal(new URL(page.url()).hash, '', 'the token must leave the address bar');
  await page.waitForFunction(() => document.getElementById('heading').textContent.startsWith('Uploading for '), null, {
    timeout: 10_000,
  });
  assert.equal(await page.locator('#heading').textContent(), 'Uploading for admin');
  assert.equal(await page.evaluate(() => localStorage.getItem('vodstack.apiKey')), null);
  await page.setInputFiles('#file', MEDIA_FILE);
  const watch = page.locator('#watch');
  await watch.waitFor({ state: 'visible', timeout: 60_000 });
  const href = await watch.getAttribute('href');
  assert.match(href, /^\/videos\/[^/]+$/);
  t.diagnostic(`uploaded ${href}`);
  assert.deepEqual(problems, []);
});
