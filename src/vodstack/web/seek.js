// The seek bar under the video: a range input (so the keyboard and screen readers know it),
// and over it, where the pointer is, the storyboard's tile for that time and the time itself.
import { formatDuration } from './api.js';
import { cueAt } from './stream.js';

export function seekBar({ video, range, preview, tile, label }, player) {
  let cues = [];
  const sync = () => {
    range.max = Number.isFinite(video.duration) ? String(video.duration) : '0';
    range.value = String(video.currentTime);
    range.setAttribute('aria-valuetext', `${formatDuration(video.currentTime)} of ${formatDuration(video.duration)}`);
  };
  for (const event of ['timeupdate', 'durationchange', 'loadedmetadata', 'seeked']) video.addEventListener(event, sync);

  const show = (fraction) => {
    const time = fraction * (Number(range.max) || 0);
    player.previewShownFor = time;
    label.textContent = formatDuration(time);
    const cue = cueAt(cues, time);
    tile.hidden = !cue;
    if (cue) {
      // CSSOM, not a style attribute: the CSP allows no inline styles.
      tile.style.backgroundImage = `url("${cue.url}")`;
      tile.style.backgroundPosition = `-${cue.x}px -${cue.y}px`;
      tile.style.width = `${cue.w}px`;
      tile.style.height = `${cue.h}px`;
      player.previewImage = cue.url;
    }
    preview.hidden = false;
    // Centred on the pointer, yet whole inside the bar at either end.
    const width = range.getBoundingClientRect().width;
    const half = preview.offsetWidth / 2;
    preview.style.left = `${Math.min(width - half, Math.max(half, fraction * width))}px`;
  };
  const hide = () => { preview.hidden = true; };
  const pointerFraction = (event) => {
    const box = range.getBoundingClientRect();
    return Math.min(1, Math.max(0, (event.clientX - box.left) / box.width));
  };
  range.addEventListener('pointermove', (event) => show(pointerFraction(event)));
  range.addEventListener('pointerleave', hide);
  range.addEventListener('blur', hide);
  // The arrow keys skip 5 s (the range's own step, a tenth of a second, is for the pointer).
  range.addEventListener('keydown', (event) => {
    const skip = { ArrowLeft: -5, ArrowDown: -5, ArrowRight: 5, ArrowUp: 5 }[event.key];
    if (!skip) return;
    event.preventDefault();
    range.value = String(Math.min(Number(range.max), Math.max(0, video.currentTime + skip)));
    range.dispatchEvent(new Event('input'));
  });
  range.addEventListener('input', () => {
    video.currentTime = Number(range.value);
    // From the keyboard too: the tile follows the thumb.
    show(Number(range.value) / (Number(range.max) || 1));
  });
  sync();
  return {
    setCues(found) {
      cues = found;
      player.storyboard = found.length;
    },
  };
}
