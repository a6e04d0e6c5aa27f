import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync, type Clock, type Logger, type Random } from '../../core/index.js';

/**
 * The keys the SIP TLS listener seals its session tickets with (RFC 5077,
 * and TLS 1.3's resumption tickets), kept in the data folder so they outlive
 * a restart of the box.
 *
 * Why: after a restart (a firmware update, a power cut) every TLS phone
 * reconnects at once, the dead-office case of seed 001. A phone that can
 * resume its session skips the certificate signature, which is most of the
 * box's CPU per reconnect. With keys made afresh in each process no ticket
 * survives the restart and every phone pays the full handshake.
 *
 * The cost: whoever reads the key file can open the tickets sealed under it.
 * Under TLS 1.3 that yields no traffic keys (resumption runs a fresh ECDHE,
 * psk_dhe_ke); under TLS 1.2 it exposes the sessions resumed with those
 * tickets. So the keys live a day at most (TICKET_KEY_LIFETIME_MS), the file
 * is 0600 and outside backups, and tickets themselves expire with the
 * listener's session timeout.
 */

export const TICKET_KEYS_FILE = 'tls-ticket.keys';
/** A key set seals tickets for at most this long, then a new one is made. */
export const TICKET_KEY_LIFETIME_MS = 24 * 3600_000;
/** What Node's tls.Server wants: 16 bytes name, 16 HMAC, 16 AES. */
export const TICKET_KEY_BYTES = 48;
/** The file: 8 bytes of the creation time (ms since epoch, big-endian), then the keys. */
const FILE_BYTES = 8 + TICKET_KEY_BYTES;

/** What the TLS listener asks for its ticket keys; it installs a different Buffer when the keys change. */
export interface TicketKeySource {
  current(): Buffer;
}

export class FileTicketKeys implements TicketKeySource {
  private keys: Buffer;
  private madeAt: number;
  private readonly path: string;

  constructor(dataDir: string, private readonly clock: Clock, private readonly random: Random, private readonly log: Logger) {
    this.path = join(dataDir, TICKET_KEYS_FILE);
    const kept = this.read();
    if (kept) {
      this.keys = kept.keys;
      this.madeAt = kept.madeAt;
    } else {
      this.keys = Buffer.alloc(0);
      this.madeAt = 0;
      this.renew('made');
    }
  }

  current(): Buffer {
    if (!this.fresh(this.madeAt)) this.renew('renewed');
    return this.keys;
  }

  private fresh(madeAt: number): boolean {
    const age = this.clock.now() - madeAt;
    // A creation time in the future means the clock was set back: start over.
    return age >= 0 && age < TICKET_KEY_LIFETIME_MS;
  }

  private read(): { keys: Buffer; madeAt: number } | undefined {
    let buf: Buffer;
    try { buf = readFileSync(this.path); } catch { return undefined; }
    if (buf.length !== FILE_BYTES) {
      this.log.warn({ path: this.path, bytes: buf.length }, 'TLS ticket key file has the wrong size: making new keys');
      return undefined;
    }
    const madeAt = Number(buf.readBigUInt64BE(0));
    if (!this.fresh(madeAt)) return undefined;
    return { keys: Buffer.from(buf.subarray(8)), madeAt };
  }

  private renew(what: 'made' | 'renewed'): void {
    this.keys = this.random.bytes(TICKET_KEY_BYTES);
    this.madeAt = this.clock.now();
    const file = Buffer.alloc(FILE_BYTES);
    file.writeBigUInt64BE(BigInt(this.madeAt), 0);
    this.keys.copy(file, 8);
    try {
      writeFileAtomicSync(this.path, file, 0o600);
      this.log.info({ validHours: TICKET_KEY_LIFETIME_MS / 3600_000 }, `TLS session ticket keys ${what}`);
    } catch (e) {
      // The keys still work in memory; only resumption across a restart is lost.
      this.log.warn({ path: this.path, err: e instanceof Error ? e.message : String(e) }, 'TLS ticket keys not saved: sessions will not resume after a restart');
    }
  }
}
