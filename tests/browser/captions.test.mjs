// An SRT added to a video through the API plays in hls.js as a text track: the master's
// subtitle group is found, the track is turned on, and its cue is shown over the video.
//
// Run through pytest (tests/e2e/test_browser_captions.py), which uploads the video and the
// SRT; standalone: BASE_URL=... CAPTION_VIDEO_ID=... CAPTION_TEXT=... node --test tests/browser/
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';

const require = createRequire(new URL('../../web/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const BASE_URL = process.env.BASE_URL;
const VIDEO_ID = process.env.CAPTION_VIDEO_ID;
const CAPTION_TEXT = process.env.CAPTION_TEXT;
// Where the cue starts in the file: on the video element's clock, it must start there too.
const CAPTION_START = Number(process.env.CAPTION_START);
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const skip = !BASE_URL || !VIDEO_ID || !CAPTION_TEXT || Number.isNaN(CAPTION_START)
  ? 'BASE_URL, CAPTION_VIDEO_ID, CAPTION_TEXT and CAPTION_START are not set (pytest tests/e2e/test_browser_captions.py sets them)'
  : false;

// The text track hls.js shows, and the text of its cues that are active now.
function shownCaption() {
  const video = document.getElementById('video');
  const tracks = [...video.textTracks];
  const showing = tracks.find((track) => track.mode === 'showing');
  return {
    tracks: tracks.map((track) => ({ kind: track.kind, label: track.label, language: track.language, mode: track.mode })),
    active: showing ? [...(showing.activeCues ?? [])].map((cue) => cue.text) : [],
    starts: showing ? [...(showing.cues ?? [])].map((cue) => cue.startTime) : [],
    currentTime: video.currentTime,
  };
}

test('an uploaded SRT plays in hls.js with a visible text track', { skip, timeout: 120_000 }, async (t) => {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  t.after(() => browser.close());
  const page = await browser.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));

  await page.goto(`${BASE_URL}/videos/${encodeURIComponent(VIDEO_ID)}`);
  await page.waitForFunction(() => window.vodstackPlayer?.hls?.subtitleTracks?.length > 0, null, { timeout: 60_000 });
  const listed = await page.evaluate(() => window.vodstackPlayer.hls.subtitleTracks.map((track) => ({ name: track.name, lang: track.lang })));
  assert.deepEqual(listed, [{ name: 'English', lang: 'en' }]);
  await page.evaluate(() => {
    const { hls } = window.vodstackPlayer;
    hls.subtitleTrack = 0;
    hls.subtitleDisplay = true;
    const video = document.getElementById('video');
    video.muted = true; // autoplay policies allow muted playback without a user gesture
    return video.play();
  });
  await page.waitForFunction(
    (text) => {
      const track = [...document.getElementById('video').textTracks].find((each) => each.mode === 'showing');
      return [...(track?.activeCues ?? [])].some((cue) => cue.text === text);
    },
    CAPTION_TEXT,
    { timeout: 60_000 },
  );
  const shown = await page.evaluate(shownCaption);
  t.diagnostic(`shown: ${JSON.stringify(shown)}`);
  assert.deepEqual(shown.active, [CAPTION_TEXT]);
  // hls.js may list a cue that two segments hold once or twice: at the same time each.
  assert.ok(shown.starts.length > 0 && shown.starts.every((start) => Math.abs(start - CAPTION_START) < 0.05),
    `the cue starts at ${shown.starts} s on the video's clock, not at ${CAPTION_START} s`);
  assert.deepEqual(shown.tracks.filter((track) => track.mode === 'showing').map((track) => track.language), ['en']);
  assert.deepEqual(problems, []);
});
