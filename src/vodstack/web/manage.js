// Around the player: the share link and embed code for anyone, and for a browser that holds
// a key, the owner's controls (title, description, visibility, poster, delete). The server
// decides who owns what: a 403 or 404 to a change hides the controls and says why.
import { api, apiKey, describeError, showMessage } from './api.js';

const $ = (id) => document.getElementById(id);

export function embedCode(origin, videoId, title) {
  const src = `${origin}/embed/${encodeURIComponent(videoId)}`;
  return `<iframe src="${src}" width="640" height="360" title="${escapeAttribute(title)}" allow="fullscreen; picture-in-picture" allowfullscreen referrerpolicy="strict-origin-when-cross-origin"></iframe>`;
}

function escapeAttribute(text) {
  return text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function renderShare(videoId, info) {
  $('share').hidden = false;
  $('share-url').value = `${location.origin}${location.pathname}`;
  $('embed-code').value = embedCode(location.origin, videoId, info.title || info.filename);
  $('share-private').hidden = info.visibility !== 'private';
}

export function wireCopyButtons() {
  for (const [button, field] of [['copy-share', 'share-url'], ['copy-embed', 'embed-code']]) {
    $(button).addEventListener('click', async () => {
      const text = $(field).value;
      try {
        await navigator.clipboard.writeText(text);
        $(button).textContent = 'Copied';
      } catch {
        // Without clipboard access (plain http), select it for the person to copy.
        $(field).select();
      }
    });
  }
}

let filled = false;

// Filled once: a later poll must not overwrite what the owner is typing. `onChanged`
// redraws the page with the video as the server has it after a change.
export function renderManage(videoId, info, video, onChanged) {
  if (!apiKey()) return;
  $('manage').hidden = false;
  if (filled) return;
  filled = true;
  $('edit-title').value = info.title ?? '';
  $('edit-description').value = info.description ?? '';
  $('edit-visibility').value = info.visibility ?? 'public';
  $('edit').addEventListener('submit', (event) => {
    event.preventDefault();
    change(videoId, {
      title: $('edit-title').value.trim() || null,
      description: $('edit-description').value,
      visibility: $('edit-visibility').value,
    }, 'Saved.', onChanged);
  });
  $('use-frame').addEventListener('click', () => {
    const at = Math.round(video.currentTime * 100) / 100;
    change(videoId, { poster_time: at }, `The frame at ${at.toFixed(2)} s is now the poster.`, onChanged);
  });
  $('delete').addEventListener('click', () => remove(videoId, info.title || info.filename));
}

async function change(videoId, body, done, onChanged) {
  const status = $('manage-message');
  try {
    const updated = await api(`/v1/videos/${encodeURIComponent(videoId)}`, { method: 'PATCH', body });
    showMessage(status, done, 'ok');
    if (updated) onChanged(updated);
  } catch (error) {
    refused(error, status);
  }
}

async function remove(videoId, title) {
  if (!window.confirm(`Delete “${title}”? Its renditions and timeline are deleted too; this cannot be undone.`)) return;
  const status = $('manage-message');
  try {
    await api(`/v1/videos/${encodeURIComponent(videoId)}`, { method: 'DELETE' });
    location.assign('/');
  } catch (error) {
    refused(error, status);
  }
}

function refused(error, status) {
  if (error.status === 403 || error.status === 404) {
    $('edit').hidden = true;
    $('owner-actions').hidden = true;
    showMessage(status, 'Only the video’s owner (or an admin) can change it; the key in this browser cannot.', 'info');
    return;
  }
  showMessage(status, `Cannot change the video: ${describeError(error)}`);
}
