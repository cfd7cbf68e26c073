// The embed page: the video alone, in another site's frame. A private video plays with the
// playback token in the embed's own address (/embed/ID?token=...).
import { api, describeError, showMessage } from './api.js';
import { captionsMenu, startStream, thumbnailUrl } from './stream.js';

const video = document.getElementById('video');
const message = document.getElementById('message');
const videoId = decodeURIComponent(location.pathname.split('/')[2] ?? '');
const token = new URLSearchParams(location.search).get('token');
const player = { hls: null, levelsLoaded: new Set(), errors: [], posterUrl: null, captionTracks: [] };
window.vodstackPlayer = player;

async function embed() {
  const id = encodeURIComponent(videoId);
  let playback;
  try {
    playback = await api(`/v1/videos/${id}/playback${token ? `?token=${encodeURIComponent(token)}` : ''}`);
  } catch (error) {
    showMessage(message, error.status === 404 ? 'This video does not exist.' : `This video cannot play: ${describeError(error)}`);
    return;
  }
  // The poster plays by the rules of playback, so the token opens it; the title comes
  // from the video, which a private video seen through its token alone does not show.
  player.posterUrl = thumbnailUrl({ thumbnail_url: `/v1/videos/${id}/thumbnail.jpg` }, { width: 1280, token });
  video.poster = player.posterUrl;
  const info = token ? null : await api(`/v1/videos/${id}`).catch(() => null);
  if (info) document.title = `${info.title || info.filename} · vodstack`;
  const hls = startStream(video, playback.master_url, player, message);
  if (hls) captionsMenu(hls, document.getElementById('captions'), player);
}

if (videoId) embed();
else showMessage(message, 'No video id in the address.');
