import type { Problem } from './types.js';

/** The page's side of the /api contract: JSON in and out, the CSRF token on every change. */

export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly field?: string, readonly problems?: Problem[]) {
    super(message);
  }
}

let csrfToken = '';
let onUnauthorized: () => void = () => {};

export function setCsrfToken(t: string): void { csrfToken = t; }
export function whenLoggedOut(fn: () => void): void { onUnauthorized = fn; }

const isProblem = (p: unknown): p is Problem =>
  typeof p === 'object' && p !== null && 'code' in p && typeof p.code === 'string' && 'message' in p && typeof p.message === 'string';

/** The parts of an error body the page shows, each taken only when it has the expected type. */
function errorBody(data: unknown): { error?: string; field?: string; problems?: Problem[] } {
  if (typeof data !== 'object' || data === null) return {};
  return {
    ...('error' in data && typeof data.error === 'string' ? { error: data.error } : {}),
    ...('field' in data && typeof data.field === 'string' ? { field: data.field } : {}),
    ...('problems' in data && Array.isArray(data.problems) ? { problems: data.problems.filter(isProblem) } : {}),
  };
}

/**
 * Calls /api`path`. `T` is the shape the route is documented to answer with
 * (see types.ts); the server is trusted to keep to it.
 */
export async function api<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (method !== 'GET') {
    headers['x-csrf-token'] = csrfToken;
    if (method !== 'DELETE') {
      headers['content-type'] = 'application/json';
      body = body ?? {};
    }
  }
  const res = await fetch(`/api${path}`, {
    method, headers, credentials: 'same-origin', cache: 'no-store',
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  let data: unknown = {};
  try { data = await res.json(); } catch { /* empty body */ }
  if (!res.ok) {
    const protectedRoute = !['/login', '/setup', '/admin/password'].includes(path);
    if (res.status === 401 && protectedRoute) onUnauthorized();
    const e = errorBody(data);
    throw new ApiError(res.status, e.error ?? `request failed (${res.status})`, e.field, e.problems);
  }
  return data as T;
}

/** The message of anything thrown. */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Field name -> message, from an ApiError (or a general message under ''). */
export function fieldErrors(e: unknown): Record<string, string> {
  if (e instanceof ApiError) return { [e.field ?? '']: e.message };
  return { '': errorMessage(e) };
}

/** A POST whose answer is a file (a backup): the bytes, or the same ApiError as api(). */
export async function apiDownload(path: string, body: unknown): Promise<Blob> {
  const res = await fetch(`/api${path}`, {
    method: 'POST', credentials: 'same-origin', cache: 'no-store',
    headers: { 'x-csrf-token': csrfToken, 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  if (!res.ok) {
    let data: unknown = {};
    try { data = await res.json(); } catch { /* empty body */ }
    if (res.status === 401) onUnauthorized();
    const e = errorBody(data);
    throw new ApiError(res.status, e.error ?? `request failed (${res.status})`, e.field, e.problems);
  }
  return res.blob();
}

/**
 * POSTs a file as the raw body (application/octet-stream) with XMLHttpRequest,
 * whose upload events fetch() does not have: `progress` hears the fraction
 * sent, 0..1. Answers like api().
 */
export function apiUpload<T>(path: string, file: Blob, progress: (sent: number) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/api${path}`);
    xhr.setRequestHeader('x-csrf-token', csrfToken);
    xhr.setRequestHeader('content-type', 'application/octet-stream');
    xhr.upload.onprogress = (e) => { if (e.lengthComputable && e.total > 0) progress(e.loaded / e.total); };
    xhr.upload.onload = () => progress(1);
    xhr.onerror = () => reject(new ApiError(0, 'the upload did not reach the box (connection lost)'));
    xhr.onload = () => {
      let data: unknown = {};
      try { data = JSON.parse(xhr.responseText); } catch { /* empty body */ }
      if (xhr.status >= 200 && xhr.status < 300) { resolve(data as T); return; }
      if (xhr.status === 401) onUnauthorized();
      const e = errorBody(data);
      reject(new ApiError(xhr.status, e.error ?? `request failed (${xhr.status})`, e.field, e.problems));
    };
    xhr.send(file);
  });
}

/** A file's bytes as base64, for the routes that take an upload inside JSON (a backup to restore, music on hold). */
export function toBase64(buf: ArrayBuffer): string {
  const bytes = new Uint8Array(buf);
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}
