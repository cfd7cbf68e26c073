// Uploads one file the way `vodstack upload` does: create the upload, PUT its parts straight
// to presigned URLs four at a time, complete with the parts' ETags. An upload interrupted by
// a reload resumes when the same file is chosen again: only the missing parts are sent.
import { api, ApiError, describeError, errorFrom, formatBytes, NETWORK_ERROR, showMessage, sleep } from './api.js';

const PARALLEL = 4;
const PRESIGN_BATCH = 100;
const PART_ATTEMPTS = 4;
const SPEED_WINDOW_MS = 5000;

const $ = (id) => document.getElementById(id);
const ui = {
  title: $('title'), drop: $('drop'), file: $('file'), pending: $('pending'),
  transfer: $('transfer'), name: $('file-name'), percent: $('percent'), bar: $('bar'),
  bytes: $('bytes'), speed: $('speed'), message: $('message'), done: $('done'), watch: $('watch'),
  heading: $('heading'),
};
let busy = false;

// A direct-upload link (#direct=<token>) uploads one video for whoever made it, with that
// token instead of a key. It is kept for this tab only, so that a reload can resume, and
// taken out of the address bar at once, as a key is.
const DIRECT_STORAGE = 'vodstack.directUpload';
function directToken() {
  const match = location.hash.match(/(?:^#|&)direct=([^&]+)/);
  if (match) {
    sessionStorage.setItem(DIRECT_STORAGE, decodeURIComponent(match[1]));
    history.replaceState(null, '', location.pathname + location.search);
  }
  return sessionStorage.getItem(DIRECT_STORAGE);
}
const direct = directToken();
const call = (path, options = {}) => api(path, { ...options, token: direct ?? undefined });

// A file is "the same" when its name, size and modification time match: a browser gives
// a page nothing more stable (no path), and hashing gigabytes first would defeat resuming.
const resumeRecords = {
  storageKey: 'vodstack.uploads',
  key: (file) => `${file.name}|${file.size}|${file.lastModified}`,
  all() {
    try {
      return JSON.parse(localStorage.getItem(this.storageKey)) ?? {};
    } catch {
      return {};
    }
  },
  get(file) {
    return this.all()[this.key(file)];
  },
  save(file, uploadId) {
    const { name, size, lastModified } = file;
    this.write({ ...this.all(), [this.key(file)]: { upload_id: uploadId, name, size, lastModified } });
  },
  forget(file) {
    const { [this.key(file)]: _, ...rest } = this.all();
    this.write(rest);
  },
  write(records) {
    localStorage.setItem(this.storageKey, JSON.stringify(records));
  },
};

class PartPlan {
  constructor(size, partSize) {
    this.size = size;
    this.partSize = partSize;
    this.count = Math.ceil(size / partSize);
  }
  offsetOf(n) {
    return (n - 1) * this.partSize;
  }
  sizeOf(n) {
    return n < this.count ? this.partSize : this.size - this.partSize * (this.count - 1);
  }
  numbers() {
    return Array.from({ length: this.count }, (_, i) => i + 1);
  }
}

class Progress {
  constructor(total, alreadyThere) {
    this.total = total;
    this.done = alreadyThere;
    this.samples = [{ at: performance.now(), done: alreadyThere }];
    this.frame = 0;
  }
  add(bytes) {
    this.done += bytes;
    this.frame ||= requestAnimationFrame(() => this.render());
  }
  speed() {
    const now = performance.now();
    this.samples.push({ at: now, done: this.done });
    while (this.samples.length > 2 && now - this.samples[0].at > SPEED_WINDOW_MS) this.samples.shift();
    const [first] = this.samples;
    const seconds = (now - first.at) / 1000;
    return seconds > 0.2 ? Math.max(0, this.done - first.done) / seconds : 0;
  }
  render() {
    this.frame = 0;
    const fraction = this.total ? this.done / this.total : 1;
    ui.bar.value = fraction;
    ui.percent.textContent = `${Math.floor(fraction * 100)}%`;
    ui.bytes.textContent = `${formatBytes(this.done)} of ${formatBytes(this.total)}`;
    const speed = this.speed();
    ui.speed.textContent = speed ? `${formatBytes(speed)}/s` : '';
  }
}

async function upload(file) {
  const state = await resumeOrCreate(file);
  if (state.status === 'completed') return state.video_id;
  const plan = new PartPlan(state.size, state.part_size);
  // Sizes are checked, contents are not: a browser has no MD5 to compare ETags with, and
  // the file is the one the record was made for (same name, size and modification time).
  const etags = new Map(
    state.parts
      .filter((p) => p.part_number <= plan.count && p.size === plan.sizeOf(p.part_number))
      .map((p) => [p.part_number, p.etag]),
  );
  const missing = plan.numbers().filter((n) => !etags.has(n));
  const held = plan.numbers().filter((n) => etags.has(n));
  if (held.length) {
    showMessage(ui.message, `Resuming: ${held.length} of ${plan.count} parts were already uploaded.`, 'info');
  }
  const progress = new Progress(plan.size, held.reduce((sum, n) => sum + plan.sizeOf(n), 0));
  ui.name.textContent = file.name;
  ui.transfer.hidden = false;
  progress.render();
  await sendParts(file, state.upload_id, plan, missing, etags, progress);
  const parts = [...etags].sort(([a], [b]) => a - b).map(([part_number, etag]) => ({ part_number, etag }));
  const completed = await call(`/v1/uploads/${state.upload_id}/complete`, { method: 'POST', body: { parts } });
  progress.render();
  return completed.video_id;
}

async function resumeOrCreate(file) {
  const record = resumeRecords.get(file);
  if (record) {
    try {
      const state = await call(`/v1/uploads/${encodeURIComponent(record.upload_id)}`);
      if (state.status !== 'aborted') return state;
    } catch (error) {
      if (error.status !== 404) throw error;
    }
  }
  const created = await call('/v1/uploads', {
    method: 'POST',
    body: {
      filename: file.name,
      size: file.size,
      content_type: file.type || null,
      title: ui.title.value.trim() || null,
    },
  });
  resumeRecords.save(file, created.upload_id);
  return { ...created, status: 'active', size: file.size, parts: [] };
}

async function sendParts(file, uploadId, plan, partNumbers, etags, progress) {
  const queue = [...partNumbers];
  const urls = new Map();
  const stop = new AbortController();
  let presigning = Promise.resolve();

  // One presign request at a time, each for the asking part and the next ones waiting:
  // URLs expire, so they are asked for as the upload gets to them, not all up front.
  const urlFor = (n, refresh) => {
    const next = presigning.then(async () => {
      if (refresh || !urls.has(n)) {
        const batch = [n, ...queue.filter((m) => !urls.has(m))].slice(0, PRESIGN_BATCH);
        const { parts } = await call(`/v1/uploads/${uploadId}/parts`, {
          method: 'POST',
          body: { part_numbers: batch },
        });
        for (const part of parts) urls.set(part.part_number, part);
      }
      return urls.get(n);
    });
    presigning = next.catch(() => {});
    return next;
  };

  const sendPart = async (n) => {
    const body = file.slice(plan.offsetOf(n), plan.offsetOf(n) + plan.sizeOf(n));
    for (let attempt = 1; ; attempt += 1) {
      const target = await urlFor(n, attempt > 1);
      try {
        return await put(target, body, (bytes) => progress.add(bytes), stop.signal);
      } catch (error) {
        // 403 is an expired URL: a fresh one fixes it. Other 4xx will not get better.
        const retryable = error.status === 0 || error.status === 403 || error.status >= 500;
        if (stop.signal.aborted || !retryable || attempt === PART_ATTEMPTS) throw error;
        await sleep(500 * 2 ** attempt);
      }
    }
  };

  const worker = async () => {
    while (queue.length && !stop.signal.aborted) {
      const n = queue.shift();
      etags.set(n, await sendPart(n));
    }
  };

  try {
    await Promise.all(Array.from({ length: Math.min(PARALLEL, queue.length) }, worker));
  } catch (error) {
    stop.abort();
    throw error;
  }
}

// XMLHttpRequest rather than fetch: fetch cannot report upload progress.
function put(target, body, onProgress, signal) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    let sent = 0;
    const fail = (error) => {
      onProgress(-sent);
      reject(error);
    };
    xhr.open(target.method, target.url);
    for (const [name, value] of Object.entries(target.headers ?? {})) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (event) => {
      onProgress(event.loaded - sent);
      sent = event.loaded;
    };
    xhr.onload = () => {
      if (xhr.status >= 300) return fail(errorFrom(xhr.status, xhr.statusText, parseJson(xhr.responseText)));
      const etag = xhr.getResponseHeader('ETag');
      if (!etag) return fail(new ApiError(xhr.status, 'missing_etag', 'storage accepted a part but did not send its ETag (does CORS expose ETag?)'));
      onProgress(body.size - sent);
      resolve(etag);
    };
    xhr.onerror = () => fail(new ApiError(0, 'network_error', NETWORK_ERROR));
    xhr.onabort = () => fail(new DOMException('The upload was stopped.', 'AbortError'));
    const abort = () => xhr.abort();
    signal.addEventListener('abort', abort, { once: true });
    xhr.onloadend = () => signal.removeEventListener('abort', abort);
    xhr.send(body);
  });
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

async function start(file) {
  if (busy || !file) return;
  busy = true;
  ui.file.disabled = true;
  ui.drop.classList.add('busy');
  ui.done.hidden = true;
  showMessage(ui.message, '');
  try {
    const videoId = await upload(file);
    resumeRecords.forget(file);
    ui.watch.href = `/videos/${encodeURIComponent(videoId)}`;
    ui.done.hidden = false;
    if (direct) sessionStorage.removeItem(DIRECT_STORAGE); // used up: the token is dead now
  } catch (error) {
    const again = error.status === 0 || error.status >= 500
      ? ' Parts already sent are kept: choose the same file again to resume.'
      : '';
    showMessage(ui.message, `Upload failed: ${describeError(error)}.${again}`);
  } finally {
    busy = false;
    ui.file.disabled = Boolean(direct) && !ui.done.hidden;
    ui.file.value = '';
    ui.drop.classList.remove('busy');
    showPending();
  }
}

// What the link allows, said before a file is chosen; no key is needed, nor asked for.
async function showDirect() {
  if (!direct) return;
  try {
    const held = await call('/v1/direct-uploads/current');
    ui.heading.textContent = `Uploading for ${held.owner}`;
    if (held.title) ui.title.value = held.title;
    ui.title.disabled = Boolean(held.title);
    showMessage(ui.message, `This link uploads one video, of at most ${formatBytes(held.max_size)}.`, 'info');
  } catch (error) {
    showMessage(ui.message, `This upload link cannot be used: ${describeError(error)}.`);
    ui.file.disabled = true;
  }
}

function showPending() {
  const names = Object.values(resumeRecords.all()).map((r) => `${r.name} (${formatBytes(r.size)})`);
  showMessage(
    ui.pending,
    names.length ? `Unfinished: ${names.join(', ')}. Choose the same file again to resume.` : '',
    'info',
  );
}

ui.file.addEventListener('change', () => start(ui.file.files[0]));
ui.drop.addEventListener('dragover', (event) => {
  event.preventDefault();
  ui.drop.classList.add('over');
});
ui.drop.addEventListener('dragleave', () => ui.drop.classList.remove('over'));
ui.drop.addEventListener('drop', (event) => {
  event.preventDefault();
  ui.drop.classList.remove('over');
  start(event.dataTransfer.files[0]);
});
// A file dropped beside the drop zone would otherwise replace the page with the file.
for (const type of ['dragover', 'drop']) window.addEventListener(type, (event) => event.preventDefault());
window.addEventListener('beforeunload', (event) => {
  if (busy) event.preventDefault();
});
showPending();
showDirect();
