import { generateKeyPairSync } from 'node:crypto';
import net from 'node:net';
import forge from 'node-forge';
import type { SipMessage, SipResponse } from '../../../firmware/sip/message/index.js';
import type { SipTransports, Source, TransportEvent } from '../../../firmware/sip/transport/index.js';

export interface Teardown {
  teardown(fn: () => unknown): void;
}

export interface TestCert {
  readonly key: string;
  readonly cert: string;
  readonly commonName: string;
}

let sharedKey: { privatePem: string; publicPem: string } | undefined;

/** Self-signed certificates that share one RSA key, so the suite pays for one keygen. */
export function selfSigned(commonName: string, serial: string): TestCert {
  sharedKey ??= (() => {
    const k = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    return { privatePem: k.privateKey, publicPem: k.publicKey };
  })();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(sharedKey.publicPem);
  cert.serialNumber = serial;
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 86_400_000);
  const attrs = [{ name: 'commonName', value: commonName }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.sign(forge.pki.privateKeyFromPem(sharedKey.privatePem), forge.md.sha256.create());
  return { key: sharedKey.privatePem, cert: forge.pki.certificateToPem(cert), commonName };
}

/** Queues what the transports deliver so a test can await the next one. */
export class Inbox {
  private readonly items: [SipMessage, Source][] = [];
  private readonly waiters: ((v: [SipMessage, Source]) => void)[] = [];

  constructor(tr: SipTransports) {
    tr.onMessage = (msg, source) => {
      const w = this.waiters.shift();
      if (w) w([msg, source]);
      else this.items.push([msg, source]);
    };
  }

  next(): Promise<[SipMessage, Source]> {
    const item = this.items.shift();
    if (item) return Promise.resolve(item);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  get pending(): number {
    return this.items.length;
  }
}

/** Resolves on the first event with this counter name. */
export function nextEvent(tr: SipTransports, reason: string): Promise<TransportEvent> {
  return new Promise((resolve) => {
    const previous = tr.onEvent;
    tr.onEvent = (e) => {
      previous(e);
      if (e.reason === reason) {
        tr.onEvent = previous;
        resolve(e);
      }
    };
  });
}

/** Collects a client socket's bytes; `until` resolves once the text contains `needle`. */
export class Reader {
  text = '';
  private readonly checks: { needle: string; resolve: () => void }[] = [];

  constructor(socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.text += d.toString('latin1');
      for (const c of [...this.checks]) {
        if (this.text.includes(c.needle)) {
          this.checks.splice(this.checks.indexOf(c), 1);
          c.resolve();
        }
      }
    });
  }

  until(needle: string): Promise<void> {
    if (this.text.includes(needle)) return Promise.resolve();
    return new Promise((resolve) => this.checks.push({ needle, resolve }));
  }
}

export function connectTcp(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });
}

export function closed(socket: net.Socket): Promise<void> {
  if (socket.destroyed && socket.closed) return Promise.resolve();
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

export function request(opts: {
  method?: string;
  via?: string;
  callId?: string;
  cseq?: number;
  body?: string;
  extra?: string[];
} = {}): string {
  const method = opts.method ?? 'OPTIONS';
  const body = opts.body ?? '';
  return [
    `${method} sip:pbx@example.com SIP/2.0`,
    `Via: ${opts.via ?? 'SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-test1'}`,
    'Max-Forwards: 70',
    'From: <sip:alice@example.com>;tag=a1',
    'To: <sip:pbx@example.com>',
    `Call-ID: ${opts.callId ?? 'call-1@example.com'}`,
    `CSeq: ${opts.cseq ?? 1} ${method}`,
    ...(opts.extra ?? []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
}

/** A 200 to an OPTIONS, to send from the box; the Call-ID tells the replies apart. */
export function okResponse(callId: string, via: string): SipResponse {
  return {
    kind: 'response', status: 200, reason: 'OK',
    headers: [
      { name: 'via', value: via },
      { name: 'call-id', value: callId },
      { name: 'cseq', value: '1 OPTIONS' },
    ],
    body: Buffer.alloc(0),
  };
}

/** First value of a header: the message module's own reader. */
export { getHeader as header } from '../../../firmware/sip/message/index.js';
