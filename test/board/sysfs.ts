import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A simulated /sys/class/gpio: chips with base, ngpio and label, and the line
 * folders a kernel would create on export (direction, value, edge,
 * active_low), each a plain file.
 */
export interface SimChip { readonly base: number; readonly ngpio: number; readonly label: string }

export function makeSysfsGpio(root: string, chips: readonly SimChip[], lines: ReadonlyMap<number, '0' | '1'>): string {
  const gpio = join(root, 'gpio');
  mkdirSync(gpio, { recursive: true });
  writeFileSync(join(gpio, 'export'), '');
  writeFileSync(join(gpio, 'unexport'), '');
  for (const c of chips) {
    const d = join(gpio, `gpiochip${c.base}`);
    mkdirSync(d);
    writeFileSync(join(d, 'base'), `${c.base}\n`);
    writeFileSync(join(d, 'ngpio'), `${c.ngpio}\n`);
    writeFileSync(join(d, 'label'), `${c.label}\n`);
  }
  for (const [line, value] of lines) {
    const d = join(gpio, `gpio${line}`);
    mkdirSync(d);
    writeFileSync(join(d, 'direction'), 'in\n');
    writeFileSync(join(d, 'value'), `${value}\n`);
    writeFileSync(join(d, 'edge'), 'none\n');
    writeFileSync(join(d, 'active_low'), '0\n');
  }
  return gpio;
}
