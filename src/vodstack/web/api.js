// What every page shares: calling the JSON API, formatting, and building DOM safely
// (text only, never innerHTML: titles and error messages come from users and ffmpeg).

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export const NETWORK_ERROR = 'the server cannot be reached; check the connection';

const KEY_STORAGE = 'vodstack.apiKey';

// An API key arrives once in the address's fragment (#key=..., which browsers never send to
// a server), is kept in this browser, and is taken out of the address bar at once.
export function apiKey() {
  const match = location.hash.match(/(?:^#|&)key=([^&]+)/);
  if (match) {
    localStorage.setItem(KEY_STORAGE, decodeURIComponent(match[1]));
    history.replaceState(null, '', location.pathname + location.search);
  }
  return localStorage.getItem(KEY_STORAGE);
}

apiKey(); // at once, so the key never lingers in the address bar or the history

// `token`: a direct-upload token to send instead of this browser's key.
export async function api(path, { method = 'GET', body, token } = {}) {
  let response;
  const headers = body === undefined ? {} : { 'Content-Type': 'application/json' };
  const key = token ?? apiKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'network_error', NETWORK_ERROR);
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) throw errorFrom(response.status, response.statusText, data);
  return data;
}

export function errorFrom(status, statusText, data) {
  const error = data?.error;
  if (error?.message) return new ApiError(status, error.code ?? 'http_error', error.message);
  return new ApiError(status, 'http_error', `the server answered HTTP ${status} ${statusText}`.trim());
}

export function describeError(error) {
  if (error instanceof ApiError && error.status) return `${error.message} (${error.code}, HTTP ${error.status})`;
  return error?.message ?? String(error);
}

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'className') node.className = value;
    else node.setAttribute(name, value === true ? '' : value);
  }
  node.append(...children.flat().filter((child) => child !== null && child !== undefined));
  return node;
}

export function statusBadge(status) {
  return el('span', { className: `badge badge-${status}` }, status);
}

export function progressBar(fraction) {
  const value = Math.max(0, Math.min(1, fraction ?? 0));
  return el('progress', { max: 1, value, 'aria-label': `${Math.round(value * 100)}%` });
}

export function showMessage(node, text, kind = 'error') {
  node.hidden = !text;
  node.textContent = text ?? '';
  node.className = `message message-${kind}`;
}

const UNITS = ['B', 'KB', 'MB', 'GB', 'TB'];

export function formatBytes(bytes) {
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 || value >= 100 ? 0 : 1)} ${UNITS[unit]}`;
}

export function formatBitrate(bitsPerSecond) {
  if (!Number.isFinite(bitsPerSecond) || bitsPerSecond <= 0) return '–';
  if (bitsPerSecond >= 1e6) return `${(bitsPerSecond / 1e6).toFixed(2)} Mbit/s`;
  return `${Math.round(bitsPerSecond / 1e3)} kbit/s`;
}

export function formatDuration(seconds) {
  if (!Number.isFinite(seconds)) return '';
  const whole = Math.round(seconds);
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = String(whole % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

export function formatTime(iso) {
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Polls while the tab is visible (a hidden tab catches up as soon as it is shown again)
// until the task returns false. One run at a time, however the two triggers interleave.
export function poll(task, intervalMs) {
  let stopped = false;
  let running = false;
  let timer;
  const run = async () => {
    if (stopped || running) return;
    clearTimeout(timer);
    running = true;
    try {
      if ((await task()) === false) stopped = true;
    } catch (error) {
      console.error(error);
    } finally {
      running = false;
    }
    if (!stopped) timer = setTimeout(() => document.hidden || run(), intervalMs);
  };
  document.addEventListener('visibilitychange', () => document.hidden || run());
  run();
}
