// The video's quality receipt: per rung what was measured (sampled VMAF and PSNR against
// the source at that size, the bitrates its segments measure against those the playlist
// declares, its segments and keyframes), whether it was published and why not; and the
// ffmpeg, command line and source digest that made it.
import { el, formatBitrate } from './api.js';

const $ = (id) => document.getElementById(id);
const score = (value, digits = 1) => (value == null ? '–' : value.toFixed(digits));

let shown = null;

export function renderReceipt(receipt) {
  const key = JSON.stringify(receipt ?? null);
  if (key === shown) return;
  shown = key;
  $('receipt').hidden = !receipt;
  if (!receipt) return;
  $('receipt-rows').replaceChildren(...receipt.rungs.map(receiptRow));
  const cost = receipt.cost == null ? '' : `; measuring it took ${(receipt.cost * 100).toFixed(1)} % of the encode time`;
  $('receipt-summary').textContent = `VMAF and PSNR on ${receipt.rungs[0]?.frames ?? 0} sampled frames per rung, against the source at each rung's size; a rung under VMAF ${receipt.min_vmaf} is not published${cost}.`;
  $('receipt-ffmpeg').textContent = receipt.ffmpeg_version;
  $('receipt-sha256').textContent = receipt.source_sha256 || '–';
  $('receipt-command').textContent = receipt.command;
}

function receiptRow(rung) {
  const verdict = rung.published ? 'published' : `not published: ${rung.problems.join('; ')}`;
  const notes = rung.notes?.length ? ` (${rung.notes.join('; ')})` : '';
  const rate = rung.crf == null ? 'fixed bitrate' : `CRF ${rung.crf}`;
  return el(
    'tr', { 'data-rung': rung.rung, className: rung.published ? '' : 'rejected' },
    el('th', { scope: 'row' }, rung.rung),
    el('td', {}, `${rung.width}×${rung.height}`),
    el('td', {}, `${rate}, cap ${formatBitrate(rung.maxrate)}`),
    el('td', { 'data-vmaf': rung.vmaf ?? '' }, `${score(rung.vmaf)} (min ${score(rung.vmaf_min)})`),
    el('td', {}, `${score(rung.psnr)} dB`),
    el('td', {}, `${formatBitrate(rung.average_bitrate)} / ${formatBitrate(rung.peak_bitrate)}`),
    el('td', {}, `${formatBitrate(rung.declared_average_bandwidth)} / ${formatBitrate(rung.declared_bandwidth)}`),
    el('td', {}, `${rung.segments}, longest ${rung.longest_segment.toFixed(2)} s`),
    el('td', {}, rung.idr_aligned ? 'aligned' : 'not aligned'),
    el('td', {}, verdict + notes),
  );
}
