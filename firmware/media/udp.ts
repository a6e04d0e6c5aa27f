/**
 * The engine's view of a UDP socket: small enough for a test to fake, and a
 * thin adapter over node:dgram for real use. Nothing here throws into the
 * caller after bind: send failures reach the `done` callback, socket errors
 * reach the error handler.
 */
import dgram from 'node:dgram';

export interface RemoteInfo {
  readonly address: string;
  readonly port: number;
}

export type UdpType = 'udp4' | 'udp6';

export interface UdpSocketLike {
  /** Resolve once bound; reject (with the system error, e.g. code EADDRINUSE) when not. */
  bind(port: number, address: string): Promise<void>;
  send(data: Uint8Array, port: number, address: string, done: (err: Error | null) => void): void;
  /** Idempotent. */
  close(): void;
  /** Install the handlers (before bind): one message handler, one error handler. */
  setHandlers(onMessage: (msg: Buffer, from: RemoteInfo) => void, onError: (err: Error) => void): void;
}

export type UdpSocketFactory = (type: UdpType) => UdpSocketLike;

class DgramSocket implements UdpSocketLike {
  private readonly sock: dgram.Socket;
  private bound = false;
  private closed = false;
  private onError: (err: Error) => void = () => {};

  constructor(type: UdpType) {
    this.sock = dgram.createSocket({ type });
    // Always listen for 'error', so an error can never become an uncaught exception.
    this.sock.on('error', (err) => {
      if (this.bound) this.onError(err);
    });
  }

  setHandlers(onMessage: (msg: Buffer, from: RemoteInfo) => void, onError: (err: Error) => void): void {
    this.sock.on('message', onMessage);
    this.onError = onError;
  }

  bind(port: number, address: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const failed = (err: Error): void => {
        this.sock.off('listening', listening);
        reject(err);
      };
      const listening = (): void => {
        this.sock.off('error', failed);
        this.bound = true;
        resolve();
      };
      this.sock.once('error', failed);
      this.sock.once('listening', listening);
      try {
        this.sock.bind({ port, address, exclusive: true });
      } catch (e) {
        this.sock.off('error', failed);
        this.sock.off('listening', listening);
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
  }

  send(data: Uint8Array, port: number, address: string, done: (err: Error | null) => void): void {
    if (this.closed) {
      done(new Error('socket closed'));
      return;
    }
    try {
      this.sock.send(data, port, address, done);
    } catch (e) {
      done(e instanceof Error ? e : new Error(String(e)));
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.sock.close();
    } catch {
      // never bound: nothing to release
    }
  }
}

export const dgramSocketFactory: UdpSocketFactory = (type) => new DgramSocket(type);
