/** The page's side of the /api contract: JSON in and out, the CSRF token on every change. */

export interface Problem { code: string; message: string }

export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly field?: string, readonly problems?: Problem[]) {
    super(message);
  }
}

let csrfToken = '';
let onUnauthorized: () => void = () => {};

export function setCsrfToken(t: string): void { csrfToken = t; }
export function whenLoggedOut(fn: () => void): void { onUnauthorized = fn; }

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
  let data: any = {};
  try { data = await res.json(); } catch { /* empty body */ }
  if (!res.ok) {
    const protectedRoute = !['/login', '/setup', '/admin/password'].includes(path);
    if (res.status === 401 && protectedRoute) onUnauthorized();
    throw new ApiError(res.status, data.error ?? `request failed (${res.status})`, data.field, data.problems);
  }
  return data as T;
}

/** Field name -> message, from an ApiError (or a general message under ''). */
export function fieldErrors(e: unknown): Record<string, string> {
  if (e instanceof ApiError) return { [e.field ?? '']: e.message };
  return { '': e instanceof Error ? e.message : String(e) };
}
