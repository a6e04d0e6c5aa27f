import { randomBytes } from 'node:crypto';
import { digestAuthorization } from '../../firmware/sip/digest/index.js';
import { startProc, waitFor, type Proc } from './harness.js';

/**
 * A registering phone made of `openssl s_client`: OpenSSL does the TLS (with
 * or without a client certificate), this writes the SIP text into its stdin
 * and reads the box's answers out of its output. Nothing of the box's own
 * SIP stack is involved on this side; only the digest answer is computed with
 * the firmware's client helper (it is plain RFC 7616 arithmetic).
 */

export interface SClientOptions {
  readonly port: number;
  readonly caFile: string;
  /** PEM files of a client certificate and its key; none: no certificate. */
  readonly certFile?: string;
  readonly keyFile?: string;
  readonly log: string;
  readonly timeoutSec: number;
}

export interface SipAnswer { readonly status: number; readonly reason: string; readonly headers: string }

export class SClientUa {
  private cseq = 0;
  private readonly callId = `${randomBytes(9).toString('hex')}@s-client`;
  private readonly tag = randomBytes(6).toString('hex');
  private seen = 0;

  private constructor(readonly proc: Proc) {}

  static async open(o: SClientOptions): Promise<SClientUa> {
    const args = ['s_client', '-connect', `127.0.0.1:${o.port}`, '-CAfile', o.caFile, '-verify_return_error', '-quiet', '-no_ign_eof', '-nocommands',
      ...(o.certFile && o.keyFile ? ['-cert', o.certFile, '-key', o.keyFile] : [])];
    const proc = startProc('openssl', args, { timeoutSec: o.timeoutSec, log: o.log, stdin: 'pipe' });
    const ua = new SClientUa(proc);
    // -quiet prints the verification result once the handshake is done.
    await waitFor('s_client to finish the handshake', () => {
      if (proc.child.exitCode !== null) throw new Error(`s_client exited: ${proc.output()}`);
      return /verify return:1/.test(proc.output());
    }, 10_000, 50);
    return ua;
  }

  get exited(): boolean {
    return this.proc.child.exitCode !== null || this.proc.child.signalCode !== null;
  }

  private request(user: string, expires: number, authorization?: string): string {
    const branch = `z9hG4bK${randomBytes(8).toString('hex')}`;
    return [
      `REGISTER sip:127.0.0.1 SIP/2.0`,
      `Via: SIP/2.0/TLS 127.0.0.1:5061;branch=${branch};rport`,
      'Max-Forwards: 70',
      `From: <sip:${user}@127.0.0.1>;tag=${this.tag}`,
      `To: <sip:${user}@127.0.0.1>`,
      `Call-ID: ${this.callId}`,
      `CSeq: ${++this.cseq} REGISTER`,
      `Contact: <sip:${user}@127.0.0.1;transport=tls;ob>`,
      `Expires: ${expires}`,
      'User-Agent: openssl-s_client',
      ...(authorization ? [`Authorization: ${authorization}`] : []),
      'Content-Length: 0',
      '', '',
    ].join('\r\n');
  }

  /** The next SIP response in the output after the ones already read. */
  private async next(): Promise<SipAnswer> {
    return waitFor('a SIP response from the box', () => {
      const out = this.proc.output();
      const all = [...out.matchAll(/SIP\/2\.0 (\d{3}) ([^\r\n]*)\r\n([\s\S]*?)\r\n\r\n/g)];
      if (all.length <= this.seen) {
        if (this.exited) throw new Error(`s_client exited before an answer: ${out.slice(-400)}`);
        return undefined;
      }
      const m = all[this.seen++]!;
      return { status: Number(m[1]), reason: m[2]!, headers: m[3]! };
    }, 8_000, 50);
  }

  /** REGISTER, answering one digest challenge; the final response. */
  async register(user: string, password: string, expires = 600): Promise<SipAnswer> {
    this.proc.child.stdin?.write(this.request(user, expires));
    const first = await this.next();
    if (first.status !== 401) return first;
    const challenge = /^WWW-Authenticate: *(.*)$/im.exec(first.headers)?.[1];
    if (!challenge) throw new Error('401 without WWW-Authenticate');
    const authorization = digestAuthorization({ challenge, method: 'REGISTER', uri: 'sip:127.0.0.1', username: user, password });
    this.proc.child.stdin?.write(this.request(user, expires, authorization));
    return this.next();
  }

  async close(): Promise<void> {
    this.proc.child.stdin?.end();
    await this.proc.stop();
  }
}
