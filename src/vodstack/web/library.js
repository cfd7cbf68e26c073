// Every video with its live status: polled every two seconds while the tab is visible.
import { api, describeError, el, formatBytes, formatDuration, formatTime, poll, progressBar, showMessage, statusBadge } from './api.js';

const list = document.getElementById('videos');
const empty = document.getElementById('empty');
const message = document.getElementById('message');

function card(video) {
  const href = `/videos/${encodeURIComponent(video.id)}`;
  const working = ['queued', 'processing', 'playable'].includes(video.status);
  const rungs = video.renditions.map((r) => `${r.height}p`).join(' · ');
  return el(
    'li', { className: `video video-${video.status}`, 'data-id': video.id },
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
