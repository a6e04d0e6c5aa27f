import type { ComponentChildren } from 'preact';
import { html, type Html } from './html.js';

/** Small shared pieces: labelled fields with their error, dates, notices. */

let seq = 0;
export const uid = (p: string): string => `${p}-${++seq}`;

export function Field(props: { id: string; label: string; error?: string | undefined; hint?: string | undefined; children?: ComponentChildren }): Html {
  const { id, label, error, hint, children } = props;
  return html`<div class=${`field${error ? ' invalid' : ''}`}>
    <label for=${id}>${label}</label>
    ${children}
    ${hint ? html`<div class="hint">${hint}</div>` : null}
    ${error ? html`<div class="error" id=${`${id}-error`} role="alert">${error}</div>` : null}
  </div>`;
}

export function FormError(props: { errors: Record<string, string> }): Html | null {
  const msg = props.errors[''];
  return msg ? html`<div class="notice bad" role="alert">${msg}</div>` : null;
}

export function when(ms: number | string | undefined): string {
  if (ms === undefined || ms === null) return '';
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toLocaleString();
}

export function fromNow(ms: number, now = Date.now()): string {
  const s = Math.round((ms - now) / 1000);
  const a = Math.abs(s);
  const text = a < 90 ? `${a} s` : a < 5400 ? `${Math.round(a / 60)} min` : a < 172800 ? `${Math.round(a / 3600)} h` : `${Math.round(a / 86400)} days`;
  return s >= 0 ? `in ${text}` : `${text} ago`;
}

export function daysLeft(iso: string): number {
  return Math.floor((Date.parse(iso) - Date.now()) / 86_400_000);
}
