// Every video with its live status and thumbnail: polled every two seconds while the tab
// is visible.
import { api, describeError, el, formatBytes, formatDuration, formatTime, poll, progressBar, showMessage, statusBadge } from './api.js';
import { thumbnailUrl, tokenOf } from './stream.js';

const list = document.getElementById('videos');
const empty = document.getElementById('empty');
const message = document.getElementById('message');

function card(video) {
  const href = `/videos/${encodeURIComponent(video.id)}`;
  const working = ['queued', 'processing', 'playable'].includes(video.status);
  const rungs = video.renditions.map((r) => `${r.height}p`).join(' · ');
  return el(
    'li', { className: `video video-${video.status}`, 'data-id': video.id },
    el('a', { className: 'thumb', href, tabindex: -1 },
      thumbnail(video), video.duration ? el('span', { className: 'duration' }, formatDuration(video.duration)) : null),
    el('div', { className: 'row' }, el('a', { className: 'title', href }, video.title || video.filename), statusBadge(video.status)),
    working ? el('div', { className: 'row' }, progressBar(video.progress), el('span', { className: 'muted' }, `${Math.round(video.progress * 100)}%`)) : null,
    video.status === 'failed' ? el('p', { className: 'error' }, video.error || 'failed without a reason') : null,
    video.warnings?.length ? warningList(video.warnings) : null,
    el('p', { className: 'muted meta' }, [
      video.duration ? formatDuration(video.duration) : null,
      rungs || null,
      formatBytes(video.size),
      `added ${formatTime(video.created_at)}`,
    ].filter(Boolean).join(' · ')),
  );
}

// Kept from poll to poll (the list is redrawn each time): an image made anew would load,
// and flicker, again every two seconds.
const thumbnails = new Map();
// A private video's picture needs a playback token; the owner's own lasts an hour, and is
// asked for once per page.
const tokens = new Map();

function thumbnail(video) {
  // A server that makes no thumbnails names none; a video still encoding has none yet.
  const playable = video.status === 'ready' || video.status === 'playable';
  if (!playable || !video.thumbnail_url) return null;
  if (video.visibility === 'private' && !tokens.has(video.id)) {
    tokens.set(video.id, null);
    api(`/v1/videos/${encodeURIComponent(video.id)}/playback`)
      .then((playback) => tokens.set(video.id, tokenOf(playback.master_url)))
      // Not asked again: the neutral box stays, rather than a request every poll.
      .catch(() => {});
  }
  const token = tokens.get(video.id);
  if (video.visibility === 'private' && !token) return null;
  const src = thumbnailUrl(video, { width: 320, token });
  let img = thumbnails.get(video.id);
  if (!img || img.dataset.src !== src) {
    img = el('img', { src, loading: 'lazy', width: 320, height: 180, 'data-src': src });
    // The neutral box shows through where the picture cannot be had.
    img.addEventListener('error', () => { img.hidden = true; });
    thumbnails.set(video.id, img);
  }
  img.alt = `Thumbnail of ${video.title || video.filename}`;
  return img;
}

// Each warning as text (el appends strings as text nodes); no live region here, as the
// whole list is redrawn on every poll.
function warningList(warnings) {
  return el('ul', { className: 'video-warnings' }, warnings.map((warning) => el('li', {}, `warning: ${warning}`)));
}

poll(async () => {
  try {
    const { videos } = await api('/v1/videos');
    list.replaceChildren(...videos.map(card));
    empty.hidden = videos.length > 0;
    showMessage(message, '');
  } catch (error) {
    showMessage(message, `Cannot load the videos: ${describeError(error)}. Trying again…`);
  }
}, 2000);
