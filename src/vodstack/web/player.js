// The player: the video's status until it plays (playable: its first chunks are in, the
// rest is being encoded; or ready), then hls.js with a quality menu, captions, a seek bar
// that previews the storyboard, live playback stats and the job timeline; the share link,
// the embed code and the owner's controls around it. Tests read window.vodstackPlayer.
import { api, describeError, el, formatBitrate, formatTime, poll, showMessage, statusBadge } from './api.js';
import { renderManage, renderShare, wireCopyButtons } from './manage.js';
import { renderReceipt } from './receipt.js';
import { seekBar } from './seek.js';
import { HLS_MISSING, THUMBNAIL_WIDTHS, captionsMenu, loadStoryboard, startStream, takeWholeLadder, thumbnailUrl, tokenOf } from './stream.js';

const $ = (id) => document.getElementById(id);
const video = $('video');
const message = $('message');
const videoId = decodeURIComponent(location.pathname.split('/')[2] ?? '');
const player = {
  hls: null, levelsLoaded: new Set(), errors: [],
  posterUrl: null, storyboard: 0, previewShownFor: null, previewImage: null, captionTracks: [],
};
window.vodstackPlayer = player;

function renderVideo(info) {
  const title = info.title || info.filename;
  document.title = `${title} · vodstack`;
  $('title').textContent = title;
  $('status').replaceChildren(statusBadge(info.status));
  const working = ['uploading', 'queued', 'processing', 'playable'].includes(info.status);
  $('pending').hidden = !working;
  if (working) {
    const text = { uploading: 'Waiting for the upload to finish', queued: 'Queued for transcoding', processing: 'Transcoding', playable: playableText(info) };
    $('pending-text').textContent = text[info.status];
    $('pending-bar').value = info.progress;
    $('pending-percent').textContent = `${Math.round(info.progress * 100)}%`;
  }
  if (info.status === 'failed') showMessage(message, `Transcoding failed: ${info.error || 'no reason was recorded'}`);
  renderWarnings(info.warnings || []);
  renderReceipt(info.receipt);
  $('description').textContent = info.description || '';
  $('description').hidden = !info.description;
  renderShare(videoId, info);
  renderManage(videoId, info, video, renderVideo);
}

// What processing found that does not stop the video from playing, such as a truncated
// source. Redrawn only when it changes: the notice is a live region, and every redraw
// would be read out again on each poll.
let shownWarnings = '[]';
function renderWarnings(warnings) {
  const key = JSON.stringify(warnings);
  if (key === shownWarnings) return;
  shownWarnings = key;
  $('warnings').hidden = !warnings.length;
  $('warnings-list').replaceChildren(...warnings.map((warning) => {
    const item = document.createElement('li');
    item.textContent = warning; // the probe's words, from the file: text, never markup
    return item;
  }));
}

// "Playable at 480p, 240p; 1080p, 720p in about 4 min": what plays now, and what is to come.
export function playableText(info) {
  const now = (info.renditions || []).map((r) => r.name).join(', ') || 'its first rungs';
  const pending = info.encoding?.pending_renditions || [];
  const seconds = info.encoding?.ready_in_seconds;
  const when = seconds == null ? 'soon' : seconds < 90 ? `in about ${Math.max(1, Math.round(seconds))} s` : `in about ${Math.round(seconds / 60)} min`;
  const rest = pending.length ? `${pending.join(', ')} ${when}` : `the rest of the video ${when}`;
  return `Playable at ${now}; ${rest}`;
}

// Where the job stands, in the words of the server: "why is my video not ready yet?"
function renderJob(job) {
  $('job').hidden = !job;
  $('job-explanation').hidden = !job || job.status === 'ready';
  if (!job) return;
  $('job-explanation').textContent = job.explanation;
  $('job-status').replaceChildren(statusBadge(job.status));
  $('job-attempt').textContent = `${job.attempts} of ${job.max_attempts}`;
  $('job-worker').textContent = job.worker || '–';
  $('job-progress').textContent = `${Math.round(job.progress * 100)}%`;
  $('job-updated').replaceChildren(el('time', { datetime: job.updated_at }, formatTime(job.updated_at)));
}

async function renderTimeline() {
  const { events, job } = await api(`/v1/videos/${encodeURIComponent(videoId)}/events`);
  renderJob(job);
  if (!events.length) return;
  $('timeline').replaceChildren(...events.map((event) => el(
    'li', {},
    el('time', { datetime: event.at }, formatTime(event.at)), ' ',
    statusBadge(event.status), ' ',
    el('strong', {}, event.kind),
    event.worker ? el('span', { className: 'muted' }, ` · ${event.worker} · epoch ${event.epoch}`) : null,
    event.reason ? el('div', {}, event.reason) : null,
    event.detail ? el('details', {}, el('summary', {}, 'details'), el('pre', {}, JSON.stringify(event.detail, null, 2))) : null,
  )));
}

// Polls until the video is ready or failed, playing it as soon as it plays, and taking the
// rest of its ladder as it is published; the timeline follows along.
function watch() {
  let unreachable = false;
  let playing = false;
  poll(async () => {
    let info;
    try {
      info = await api(`/v1/videos/${encodeURIComponent(videoId)}`);
    } catch (error) {
      unreachable = error.status !== 404;
      showMessage(message, unreachable ? `Cannot load the video: ${describeError(error)}. Trying again…` : `There is no video ${videoId}.`);
      return unreachable;
    }
    if (unreachable) showMessage(message, '');
    unreachable = false;
    renderVideo(info);
    await renderTimeline().catch((error) => console.error(error));
    if ((info.status === 'ready' || info.status === 'playable') && !playing) {
      playing = true;
      await play(info);
    } else if (playing) {
      takeWholeLadder(player, (info.renditions || []).map((r) => r.name));
    }
    loadPreviews(info);
    return info.status !== 'failed' && info.status !== 'ready';
  }, 1000);
}

async function play(info) {
  let playback;
  try {
    playback = await api(`/v1/videos/${encodeURIComponent(videoId)}/playback`);
  } catch (error) {
    showMessage(message, `Cannot play the video: ${describeError(error)}`);
    return;
  }
  $('stage').hidden = false;
  masterUrl = playback.master_url;
  // Before playback starts: the owner's chosen frame, at the size the stage is shown. A
  // server that makes no thumbnails names none.
  if (info.thumbnail_url) {
    const width = THUMBNAIL_WIDTHS.find((w) => w >= video.clientWidth * devicePixelRatio) ?? 1280;
    player.posterUrl = thumbnailUrl(info, { width: Math.max(640, width), token: tokenOf(masterUrl) });
    video.poster = player.posterUrl;
  }
  const hls = startStream(video, playback.master_url, player, message, {
    onFatal: () => clearInterval(statsTimer),
    wire: wireStream,
  });
  if (!hls) return;
  seek = seekBar({ video, range: $('seek-range'), preview: $('preview'), tile: $('preview-tile'), label: $('preview-time') }, player);
  $('seek').hidden = false;
  $('controls').hidden = false;
  $('stats').hidden = false;
  statsTimer = setInterval(() => renderStats(player.hls), 500);
}

// What the page hears from each hls.js instance: the first, and each that takes over when
// the ladder grows.
function wireStream(hls) {
  const Hls = window.Hls;
  hls.on(Hls.Events.MANIFEST_PARSED, () => buildQualityMenu(hls));
  hls.on(Hls.Events.LEVEL_SWITCHED, () => syncQualityMenu(hls));
  hls.on(Hls.Events.FRAG_LOADED, (_, { frag }) => {
    // An audio fragment's level is its audio track's index, not a rendition's.
    if (frag.type === 'main' && frag.sn !== 'initSegment') player.levelsLoaded.add(frag.level);
  });
  captionsMenu(hls, $('captions'), player);
}

let statsTimer;
let masterUrl;
let seek;
let storyboardAsked = false;

// The storyboard is made with the thumbnails, once the whole video is in: asked for then,
// and only of a server that makes them.
function loadPreviews(info) {
  if (storyboardAsked || !seek || info.status !== 'ready' || !info.thumbnail_url) return;
  storyboardAsked = true;
  loadStoryboard(masterUrl).then((cues) => seek.setCues(cues));
}

function levelName(level) {
  return `${level.height}p · ${formatBitrate(level.bitrate)}`;
}

function buildQualityMenu(hls) {
  const options = hls.levels
    .map((level, index) => ({ level, index }))
    .sort((a, b) => b.level.height - a.level.height || b.level.bitrate - a.level.bitrate)
    .map(({ level, index }) => el('option', { value: index }, levelName(level)));
  const select = $('quality');
  select.replaceChildren(el('option', { value: -1 }, 'Auto'), ...options);
  select.onchange = () => {
    hls.currentLevel = Number(select.value);
  };
}

function syncQualityMenu(hls) {
  const select = $('quality');
  if (!hls.autoLevelEnabled) select.value = String(hls.currentLevel);
  const auto = select.querySelector('option[value="-1"]');
  const current = hls.levels[hls.currentLevel];
  if (auto) auto.textContent = hls.autoLevelEnabled && current ? `Auto (${current.height}p)` : 'Auto';
}

function bufferAhead() {
  const { buffered, currentTime } = video;
  for (let i = 0; i < buffered.length; i += 1) {
    if (buffered.start(i) <= currentTime + 0.1 && currentTime < buffered.end(i)) return buffered.end(i) - currentTime;
  }
  return 0;
}

function renderStats(hls) {
  const level = hls.levels[hls.currentLevel];
  $('stat-rendition').textContent = level
    ? `${level.width}×${level.height} · ${formatBitrate(level.bitrate)}${hls.autoLevelEnabled ? ' (auto)' : ''}`
    : '–';
  $('stat-bandwidth').textContent = formatBitrate(hls.bandwidthEstimate);
  $('stat-buffer').textContent = `${bufferAhead().toFixed(1)} s`;
  const quality = video.getVideoPlaybackQuality?.();
  $('stat-dropped').textContent = quality ? `${quality.droppedVideoFrames} of ${quality.totalVideoFrames}` : '–';
  const loaded = [...player.levelsLoaded].map((i) => hls.levels[i]?.height).filter(Boolean).sort((a, b) => b - a);
  $('stat-loaded').textContent = loaded.length ? loaded.map((h) => `${h}p`).join(', ') : '–';
}

if (!videoId) {
  showMessage(message, 'No video id in the address.');
} else {
  if (!window.Hls) showMessage(message, HLS_MISSING);
  wireCopyButtons();
  watch();
}
