// What the player page and the embed page share: the stream in hls.js, its captions menu,
// the poster, and the storyboard behind the seek bar's hover preview.
import { el, showMessage } from './api.js';

export const HLS_MISSING = 'This server is missing hls.js, so videos cannot play. Run `make` in the vodstack checkout (it installs web/node_modules), then reload this page.';
export const THUMBNAIL_WIDTHS = [160, 320, 640, 1280];

// The playback token a private video's master URL carries; every file of the video
// (thumbnails, storyboard) takes the same one.
export function tokenOf(masterUrl) {
  return new URL(masterUrl, location.href).searchParams.get('token');
}

// The video's thumbnail (`info.thumbnail_url`, absolute or relative to this page) at
// `width` px, one of THUMBNAIL_WIDTHS: the poster, or the frame at `time`.
export function thumbnailUrl(info, { width, token, time } = {}) {
  const url = new URL(info.thumbnail_url, location.href);
  url.searchParams.set('width', String(width));
  if (time != null) url.searchParams.set('time', time.toFixed(2));
  if (token) url.searchParams.set('token', token);
  return url.href;
}

// Plays `masterUrl` in `video` with hls.js (or the browser's own HLS), noting what tests
// read on `player`; the hls.js instance, or null when it cannot play here. `wire(hls)` is
// called for this instance and for each that takes over when the ladder grows, before it
// loads anything.
export function startStream(video, masterUrl, player, message, { onFatal, wire } = {}) {
  const Hls = window.Hls;
  if (!Hls) {
    showMessage(message, HLS_MISSING);
    return null;
  }
  if (!Hls.isSupported()) {
    // Safari plays HLS itself.
    if (video.canPlayType('application/vnd.apple.mpegurl')) video.src = masterUrl;
    else showMessage(message, 'This browser cannot play HLS: it has no Media Source Extensions.');
    return null;
  }
  player.stream = { video, masterUrl, message, onFatal, wire, swaps: 0, upgrading: false, stopped: false };
  video.addEventListener('error', () => {
    const detail = video.error?.message || `media error code ${video.error?.code}`;
    player.errors.push({ fatal: true, type: 'mediaElement', details: detail });
    showMessage(message, `The video element failed: ${detail}`);
  });
  // From the start, not from the live edge: a playable video's playlists are EVENT
  // playlists that grow as its chunks are published.
  const hls = newHls(player, 0);
  hls.loadSource(masterUrl);
  hls.attachMedia(video);
  return hls;
}

function newHls(player, startPosition) {
  const Hls = window.Hls;
  const { message, onFatal, wire } = player.stream;
  const hls = new Hls({ startPosition });
  player.hls = hls;
  player.variants = 0;
  player.levelsLoaded = new Set(); // indices into this instance's levels
  let mediaRecoveries = 0;
  hls.on(Hls.Events.MANIFEST_LOADED, (_, data) => {
    player.variants = data.levels.length; // as listed, before hls.js leaves out what it cannot play
  });
  hls.on(Hls.Events.ERROR, (_, data) => {
    player.errors.push({ fatal: data.fatal, type: data.type, details: data.details, message: data.error?.message ?? null });
    if (!data.fatal) return;
    // hls.js has already retried network errors by now; a decode error is worth one retry.
    if (data.type === Hls.ErrorTypes.MEDIA_ERROR && mediaRecoveries < 1) {
      mediaRecoveries += 1;
      hls.recoverMediaError();
      return;
    }
    showMessage(message, `Playback stopped: ${data.details}${data.error?.message ? ` (${data.error.message})` : ''}. Reload the page to try again.`);
    onFatal?.();
    player.stream.stopped = true; // nothing is left to take a new master over
    hls.destroy();
  });
  wire?.(hls);
  return hls;
}

// How often, and how long, a master that does not list the rungs the server named yet is
// fetched again: another server process may still hold the video as it was, for a moment.
const LADDER_RETRY_MS = 1000;
const LADDER_TRIES = 8;

// A viewer who opened a video while it was playable has the rungs its master listed then.
// Once the server names more (`renditions`, the rungs its master lists now), the new master
// is taken without a reload: the media element, its MediaSource and all that is buffered
// pass to a new hls.js instance that loads the new master from the current time. The
// picture and the clock go on, paused or playing, and the quality menu lists every rung.
export async function takeWholeLadder(player, renditions) {
  const stream = player.stream;
  if (!stream || stream.stopped || stream.upgrading || !player.variants || renditions.length <= player.variants) return;
  stream.upgrading = true;
  try {
    let listed = 0;
    for (let tries = 0; tries < LADDER_TRIES && listed < renditions.length; tries += 1) {
      if (tries) await new Promise((resolve) => { setTimeout(resolve, LADDER_RETRY_MS); });
      listed = await variantsListed(stream.masterUrl);
    }
    if (!stream.stopped && listed > player.variants) swapMaster(player);
  } finally {
    stream.upgrading = false;
  }
}

// The number of variants the master lists now, fetched past the browser's cache, which
// then holds this copy for hls.js to read; 0 when it cannot be had.
async function variantsListed(masterUrl) {
  try {
    const response = await fetch(masterUrl, { cache: 'reload' });
    if (!response.ok) return 0;
    return (await response.text()).split(/\r?\n/).filter((line) => line.startsWith('#EXT-X-STREAM-INF:')).length;
  } catch {
    return 0;
  }
}

function swapMaster(player) {
  const { video, masterUrl } = player.stream;
  const old = player.hls;
  const captions = { track: old.subtitleTrack, shown: old.subtitleDisplay };
  const chosen = old.autoLevelEnabled ? null : old.levels[old.currentLevel]?.height;
  const media = old.transferMedia();
  old.destroy();
  const hls = newHls(player, video.currentTime);
  const Hls = window.Hls;
  hls.once(Hls.Events.MANIFEST_PARSED, () => {
    // A rung the viewer chose stays chosen, without flushing what is buffered.
    const level = chosen == null ? -1 : hls.levels.findIndex((l) => l.height === chosen);
    if (level >= 0) hls.loadLevel = level;
  });
  hls.once(Hls.Events.SUBTITLE_TRACKS_UPDATED, () => {
    hls.subtitleDisplay = captions.shown;
    hls.subtitleTrack = captions.track;
  });
  player.stream.swaps += 1;
  hls.attachMedia(media ?? video);
  hls.loadSource(masterUrl);
}

// Off, and each subtitle track of the master playlist by its name (or language); hidden
// while there are none.
export function captionsMenu(hls, select, player) {
  const Hls = window.Hls;
  const build = () => {
    const tracks = hls.subtitleTracks || [];
    player.captionTracks = tracks.map((track) => ({ name: track.name, lang: track.lang ?? null }));
    select.replaceChildren(
      el('option', { value: -1 }, 'Off'),
      ...tracks.map((track, index) => el('option', { value: index }, trackLabel(track))),
    );
    select.value = String(hls.subtitleTrack);
    select.closest('[data-captions]').hidden = tracks.length === 0;
  };
  hls.on(Hls.Events.MANIFEST_PARSED, build);
  hls.on(Hls.Events.SUBTITLE_TRACKS_UPDATED, build);
  hls.on(Hls.Events.SUBTITLE_TRACK_SWITCH, () => {
    select.value = String(hls.subtitleTrack);
  });
  select.onchange = () => {
    hls.subtitleDisplay = true;
    hls.subtitleTrack = Number(select.value);
  };
}

function trackLabel(track) {
  if (track.name && track.lang && !track.name.includes(track.lang)) return `${track.name} (${track.lang})`;
  return track.name || track.lang || 'Captions';
}

// The storyboard beside the master playlist, as cues {start, end, url, x, y, w, h}; []
// where the video has none (made before storyboards were).
export async function loadStoryboard(masterUrl) {
  const master = new URL(masterUrl, location.href);
  const vtt = new URL('storyboard/storyboard.vtt', master);
  vtt.search = master.search;
  let response;
  try {
    response = await fetch(vtt.href);
  } catch {
    return [];
  }
  if (!response.ok) return [];
  return parseStoryboard(await response.text(), vtt.href);
}

const CUE_TIMES = /^((?:\d+:)?\d{1,2}:\d{2}\.\d{3})\s+-->\s+((?:\d+:)?\d{1,2}:\d{2}\.\d{3})/;

// WebVTT cues whose text is `sheet.jpg#xywh=x,y,w,h`, relative to the VTT's folder; the
// sheets take the VTT's query (a private video's token).
export function parseStoryboard(text, vttUrl) {
  const base = new URL(vttUrl);
  const cues = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i += 1) {
    const times = CUE_TIMES.exec(lines[i].trim());
    const target = lines[i + 1]?.trim();
    if (!times || !target) continue;
    const [file, fragment = ''] = target.split('#');
    const xywh = /^xywh=(\d+),(\d+),(\d+),(\d+)$/.exec(fragment);
    if (!xywh) continue;
    const url = new URL(file, base);
    if (!url.search) url.search = base.search;
    const [x, y, w, h] = xywh.slice(1).map(Number);
    cues.push({ start: vttSeconds(times[1]), end: vttSeconds(times[2]), url: url.href, x, y, w, h });
  }
  return cues;
}

function vttSeconds(stamp) {
  return stamp.split(':').reduce((total, part) => total * 60 + Number(part), 0);
}

// The cue showing `time`: the last to start by then (past the end, the last one).
export function cueAt(cues, time) {
  return cues.findLast((cue) => cue.start <= time) ?? cues[0] ?? null;
}
