/**
 * Builds and drives the libsrtp reference helper (ref/srtp-ref.c) for the
 * cross-check tests: Debian's libsrtp2-dev, compiled with cc and pkg-config
 * into a temp dir. `buildRef` says why when it cannot (no compiler, no
 * libsrtp2), so the tests can skip with that note.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** From dist/test/media/srtp back to the source tree. */
const SOURCE = fileURLToPath(new URL('../../../../test/media/srtp/ref/srtp-ref.c', import.meta.url));

export type BuildResult = { readonly ok: true; readonly exe: string; readonly dir: string } | { readonly ok: false; readonly why: string };

export function buildRef(): BuildResult {
  const pc = spawnSync('pkg-config', ['--cflags', '--libs', 'libsrtp2'], { encoding: 'utf8' });
  if (pc.error || pc.status !== 0) return { ok: false, why: `pkg-config libsrtp2 failed (install libsrtp2-dev and pkg-config): ${pc.stderr || String(pc.error)}` };
  const dir = mkdtempSync(join(tmpdir(), 'srtp-ref-'));
  const exe = join(dir, 'srtp-ref');
  const flags = pc.stdout.trim().split(/\s+/).filter(Boolean);
  const cc = spawnSync('cc', ['-O2', '-o', exe, SOURCE, ...flags], { encoding: 'utf8' });
  if (cc.error || cc.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return { ok: false, why: `cc failed: ${cc.stderr || String(cc.error)}` };
  }
  return { ok: true, exe, dir };
}

/** One running helper: commands go in a line at a time, answers come back in order. */
export class RefProcess {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiting: Array<(line: string) => void> = [];

  constructor(exe: string) {
    this.child = spawn(exe, [], { stdio: ['pipe', 'pipe', 'pipe'] });
    createInterface({ input: this.child.stdout }).on('line', (line) => this.waiting.shift()?.(line));
  }

  /** Sends the commands at once and resolves with one answer per command. */
  run(commands: readonly string[]): Promise<string[]> {
    const answers = commands.map((c) => new Promise<string>((resolve) => {
      this.waiting.push(resolve);
      return c;
    }));
    this.child.stdin.write(commands.map((c) => `${c}\n`).join(''));
    return Promise.all(answers);
  }

  async one(command: string): Promise<string> {
    const [a] = await this.run([command]);
    return a!;
  }

  close(): void {
    this.child.stdin.end();
  }
}

/** "ok HEX" -> bytes; anything else -> the error text. */
export function answerBytes(a: string): Buffer | string {
  return a.startsWith('ok ') ? Buffer.from(a.slice(3), 'hex') : a;
}
