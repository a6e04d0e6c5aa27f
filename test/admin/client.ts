import https from 'node:https';
import http from 'node:http';

/** A small HTTPS client for the admin API tests: trusts the box CA, keeps nothing between calls. */

export interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly text: string;
  readonly json: Record<string, unknown> & { error?: string; field?: string };
}

export interface RequestOptions {
  readonly body?: unknown;
  /** Sent as is (to test malformed JSON). */
  readonly rawBody?: string;
  /** Bytes sent as is (a firmware bundle), as application/octet-stream unless a content-type header says otherwise. */
  readonly bytes?: Buffer;
  readonly cookie?: string;
  readonly csrf?: string;
  readonly headers?: Record<string, string>;
  /** The local address to send from (127.x.y.z), to act as several machines. */
  readonly from?: string;
}

export function request(port: number, ca: string | readonly string[], method: string, path: string, o: RequestOptions = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...(o.headers ?? {}) };
  const payload: string | Buffer | undefined = o.bytes ?? o.rawBody ?? (o.body !== undefined ? JSON.stringify(o.body) : undefined);
  if (payload !== undefined) headers['content-type'] ??= o.bytes ? 'application/octet-stream' : 'application/json';
  if (o.cookie) headers.cookie = o.cookie;
  if (o.csrf) headers['x-csrf-token'] = o.csrf;
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1', port, method, path, ca: typeof ca === 'string' ? ca : [...ca], headers, agent: false,
      ...(o.from !== undefined ? { localAddress: o.from } : {}),
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: Reply['json'] = {};
        try { json = JSON.parse(text) as Reply['json']; } catch { /* not JSON */ }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

export function plainGet(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, agent: false, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    }).on('error', reject);
  });
}

/** The session cookie from a Set-Cookie reply, as a Cookie header value. */
export function sessionCookie(r: Reply): string {
  const set = r.headers['set-cookie'] ?? [];
  const c = set.find((s) => s.startsWith('__Host-pbx_session='));
  if (!c) throw new Error(`no session cookie in ${JSON.stringify(set)}`);
  return c.split(';')[0]!;
}

/** Fill a route pattern's parameters with harmless values. */
export function concrete(url: string): string {
  return url.replace(/:extension/g, 'nobody').replace(/:name/g, 'nopolicy').replace(/:[A-Za-z]+/g, 'x');
}
