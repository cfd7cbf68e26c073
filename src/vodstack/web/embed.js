// The embed page: the video alone, in another site's frame. A private video plays with the
// playback token in the embed's own address (/embed/ID?token=...). A video still playable
// gains the rest of its ladder in place once it is published.
import { api, describeError, poll, showMessage } from './api.js';
import { captionsMenu, startStream, takeWholeLadder, thumbnailUrl } from './stream.js';

// How often a playable video's playback answer is asked again, until it is ready: each
// asks little of the server (a cached lookup and a signature).
const FOLLOW_MS = 3000;

const video = document.getElementById('video');
const message = document.getElementById('message');
const videoId = decodeURIComponent(location.pathname.split('/')[2] ?? '');
const token = new URLSearchParams(location.search).get('token');
const player = { hls: null, levelsLoaded: new Set(), errors: [], posterUrl: null, captionTracks: [] };
window.vodstackPlayer = player;

async function embed() {
  const id = encodeURIComponent(videoId);
  const playbackPath = `/v1/videos/${id}/playback${token ? `?token=${encodeURIComponent(token)}` : ''}`;
  let playback;
  try {
    playback = await api(playbackPath);
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
  const captions = document.getElementById('captions');
  const hls = startStream(video, playback.master_url, player, message, {
    wire: (instance) => captionsMenu(instance, captions, player),
  });
  if (hls && playback.status === 'playable') follow(playbackPath);
}

// The playback answer, with the token if any, until the video is ready (it then lists every
// rung) or no longer plays; a server that cannot answer for now is asked again.
function follow(playbackPath) {
  poll(async () => {
    let now;
    try {
      now = await api(playbackPath);
    } catch (error) {
      return !error.status || error.status >= 500;
    }
    takeWholeLadder(player, now.renditions);
    return now.status !== 'ready';
  }, FOLLOW_MS);
}

if (videoId) embed();
else showMessage(message, 'No video id in the address.');
