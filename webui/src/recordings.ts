import { useEffect, useState } from 'preact/hooks';
import { api, errorMessage } from './api.js';
import { html, type Html } from './html.js';
import type { RecordingListEntry, WaveformView } from './types.js';
import { when } from './ui.js';

/**
 * Recordings (issue 9): who, when, how long, each leg's protection and what
 * the box could store. A decoded call plays in the page and downloads as a
 * WAV, decrypted by the box as it is sent (the file on its disk stays
 * encrypted); a relayed call the box could not decrypt is an encrypted
 * capture, said so plainly, and downloads as the pcap it is.
 */

const PROTECTION: Record<string, string> = { rtp: 'plain RTP', sdes: 'SRTP (SDES)', dtls: 'DTLS-SRTP', zrtp: 'ZRTP' };

function length(msec: number): string {
  const s = Math.round(msec / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

function kind(r: RecordingListEntry): Html {
  return r.kind === 'decoded'
    ? html`<span class="ok">decoded</span> · WAV, one channel per party`
    : html`<span class="warn">encrypted, not decodable</span> · pcap`;
}

const WAVE_W = 150;
const WAVE_H = 22;

/** A small picture of each channel's loudness over the recording, from the summary the recorder stored. */
function Wave(props: { id: string }): Html | null {
  const [w, setW] = useState<WaveformView | null>(null);
  useEffect(() => { api<WaveformView>('GET', `/recordings/${encodeURIComponent(props.id)}/waveform`).then(setW).catch(() => {}); }, [props.id]);
  if (!w || w.channels === 0) return null;
  return html`<svg class="wave" viewBox=${`0 0 ${WAVE_W} ${WAVE_H * w.channels}`} width=${WAVE_W} height=${WAVE_H * w.channels} role="img" aria-label="waveform">
    ${w.max.map((max, ch) => {
      const min = w.min[ch] ?? [];
      const n = Math.max(1, max.length);
      const mid = WAVE_H * ch + WAVE_H / 2;
      const d = max.map((hi, i) => {
        const x = ((i + 0.5) / n) * WAVE_W;
        return `M${x.toFixed(1)} ${(mid - (Math.max(1, hi) / 128) * (WAVE_H / 2)).toFixed(1)}V${(mid - (Math.min(-1, min[i] ?? 0) / 128) * (WAVE_H / 2)).toFixed(1)}`;
      }).join('');
      return html`<path d=${d} stroke=${ch === 0 ? '#1f5f99' : '#c05a00'} stroke-width=${Math.max(0.6, WAVE_W / n * 0.8).toFixed(2)} data-channel=${ch} />`;
    })}</svg>`;
}

export function Recordings(): Html {
  const [list, setList] = useState<readonly RecordingListEntry[] | null>(null);
  const [playing, setPlaying] = useState<string | null>(null);
  const [error, setError] = useState('');
  const [notice, setNotice] = useState('');
  const load = (): void => { api<RecordingListEntry[]>('GET', '/recordings').then((l) => setList([...l].reverse())).catch((e: unknown) => setError(errorMessage(e))); };
  useEffect(load, []);
  const remove = async (r: RecordingListEntry): Promise<void> => {
    if (!confirm(`Delete the recording of ${r.parties.join(' and ')} from ${when(r.start)}? This cannot be undone.`)) return;
    try {
      await api('DELETE', `/recordings/${encodeURIComponent(r.id)}`);
      setNotice(`Deleted the recording of ${r.parties.join(' and ')}.`);
      if (playing === r.id) setPlaying(null);
      load();
    } catch (e) { setError(errorMessage(e)); }
  };
  return html`<section class="card" id="recordings"><h2>Recordings</h2>
    <p class="hint">Recordings are stored encrypted on the box; a download is decrypted as it is sent to you. Which calls are recorded is set per policy or extension (always, on demand from the dashboard, never).</p>
    ${notice ? html`<div class="notice" role="status" id="recording-done">${notice}</div>` : null}
    ${error ? html`<div class="notice bad" role="alert">${error}</div>` : null}
    ${!list ? html`<p class="boot">Loading…</p>` : list.length === 0 ? html`<p class="empty">No recording yet.</p>` : html`
    <table id="recording-list"><thead><tr><th>Started</th><th>Parties and their legs</th><th>Length</th><th>Stored as</th><th class="actions">Actions</th></tr></thead>
    <tbody>${list.map((r) => html`<tr data-recording=${r.id} data-kind=${r.kind}>
      <td>${when(r.start)}</td><td class="parties"><strong>${r.parties.join(' ↔ ')}</strong>
        ${r.legs.map((l, i) => html`<div class="hint">${r.parties[i] ?? l.id}: ${PROTECTION[l.protection] ?? l.protection}</div>`)}</td><td>${length(r.durationMs)}${r.state !== 'complete' ? html` <span class="pill warn">${r.state}</span>` : ''}
        ${r.kind === 'decoded' && r.state !== 'recording' ? html`<${Wave} id=${r.id} />` : null}</td>
      <td class="note">${kind(r)}${r.notes.length ? html`<div class="hint">${r.notes.join('; ')}</div>` : null}</td>
      <td class="actions"><div class="row">
        ${r.kind === 'decoded' && r.state !== 'recording' ? html`<button class="plain play" onClick=${() => setPlaying(playing === r.id ? null : r.id)}>${playing === r.id ? 'Close player' : 'Play'}</button>` : null}
        ${r.state !== 'recording' ? html`<a class="button plain download" href=${`/api/recordings/${encodeURIComponent(r.id)}/audio?download=1`} download>${r.kind === 'decoded' ? 'Download WAV' : 'Download capture'}</a>` : null}
        ${r.state !== 'recording' ? html`<button class="danger delete" onClick=${() => void remove(r)}>Delete</button>` : null}
      </div>
      ${playing === r.id ? html`<audio id="player" controls autoplay src=${`/api/recordings/${encodeURIComponent(r.id)}/audio`}></audio>` : null}</td></tr>`)}</tbody></table>`}
  </section>`;
}
