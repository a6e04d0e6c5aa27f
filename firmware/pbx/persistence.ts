import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic, type Logger } from '../core/index.js';
import type { Binding, BindingPersistence } from './location.js';

export const REGISTRATIONS_FILE = 'registrations.json';

function isBinding(v: unknown): v is Binding {
  if (!v || typeof v !== 'object') return false;
  const b = v as Record<string, unknown>;
  const src = b.source as Record<string, unknown> | undefined;
  return typeof b.extension === 'string' && typeof b.contact === 'string' && typeof b.expiresAt === 'number'
    && typeof b.callId === 'string' && typeof b.cseq === 'number' && typeof b.transport === 'string'
    && typeof b.registeredAt === 'number' && !!src && typeof src.address === 'string' && typeof src.port === 'number';
}

/** Bindings in DATA/registrations.json, so they outlive a restart until they expire. */
export function fileBindingPersistence(dataDir: string, log: Logger): BindingPersistence {
  const path = join(dataDir, REGISTRATIONS_FILE);
  let next: readonly Binding[] | undefined;
  let writing: Promise<void> | undefined;
  return {
    load() {
      let raw: unknown;
      try { raw = JSON.parse(readFileSync(path, 'utf8')); } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') log.warn({ path, err: (e as Error).message }, 'registrations file unreadable; starting with none');
        return [];
      }
      const list = (raw as { bindings?: unknown }).bindings;
      if (!Array.isArray(list)) return [];
      const good = list.filter(isBinding);
      if (good.length !== list.length) log.warn({ dropped: list.length - good.length }, 'dropped malformed saved registrations');
      // A flow does not survive a restart: the binding is unreachable until
      // the phone talks to the box on a new connection (LocationService.followFlow).
      // An identity field of the wrong type is dropped, not the whole binding.
      return good.map(({ flowId: _f, instance, regId, ...b }) => ({
        ...b,
        ...(typeof instance === 'string' && instance.length > 0 ? { instance } : {}),
        ...(typeof regId === 'number' && Number.isInteger(regId) && regId > 0 ? { regId } : {}),
      }));
    },
    // Written off the main thread (libuv's pool does the write and fsync):
    // a slow SD card must not stall SIP. One write at a time; changes that
    // come during a write are coalesced into the next one.
    save(bindings) {
      next = bindings;
      if (!writing) writing = drain();
    },
    async flush() {
      while (writing) await writing;
    },
  };

  async function drain(): Promise<void> {
    while (next) {
      const bindings = next;
      next = undefined;
      try {
        await writeFileAtomic(path, `${JSON.stringify({ savedAt: new Date().toISOString(), bindings }, null, 1)}\n`, 0o600);
      } catch (e) {
        log.error({ path, err: (e as Error).message }, 'cannot save registrations');
      }
    }
    writing = undefined;
  }
}
