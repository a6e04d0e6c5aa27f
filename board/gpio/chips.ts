import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * GPIO chips as sysfs lists them. Newer kernels give each chip a dynamic
 * base (512 for the Pi 4's pinctrl-bcm2711 on 6.6+, 571 for the Pi 5's
 * pinctrl-rp1 on some builds), so a header pin's global number is the base of
 * the chip with the right label plus the pin's offset; never a constant.
 */
export interface GpioChip {
  readonly name: string;
  readonly base: number;
  readonly ngpio: number;
  readonly label: string;
}

export const SYSFS_GPIO = '/sys/class/gpio';

export function readChips(root = SYSFS_GPIO): GpioChip[] {
  let names: string[];
  try {
    names = readdirSync(root).filter((n) => /^gpiochip\d+$/.test(n));
  } catch {
    return [];
  }
  const chips: GpioChip[] = [];
  for (const name of names) {
    try {
      const read = (f: string): string => readFileSync(join(root, name, f), 'utf8').trim();
      const base = Number(read('base'));
      const ngpio = Number(read('ngpio'));
      if (!Number.isInteger(base) || base < 0 || !Number.isInteger(ngpio) || ngpio <= 0) continue;
      chips.push({ name, base, ngpio, label: read('label') });
    } catch { /* a chip without readable attributes is not ours */ }
  }
  return chips.sort((a, b) => a.base - b.base);
}

export class ChipNotFound extends Error {
  override readonly name = 'ChipNotFound';
  constructor(readonly labels: readonly string[], readonly seen: readonly GpioChip[]) {
    super(`no GPIO chip labelled ${labels.join(' or ')} (found: ${seen.map((c) => `${c.label}@${c.base}`).join(', ') || 'none'})`);
  }
}

/** The chip carrying the header pins: the first whose label is one of `labels`. */
export function headerChip(chips: readonly GpioChip[], labels: readonly string[]): GpioChip {
  const chip = chips.find((c) => labels.includes(c.label));
  if (!chip) throw new ChipNotFound(labels, chips);
  return chip;
}

/** Global line number of a header GPIO (BCM numbering) on that chip. */
export function lineOf(chip: GpioChip, offset: number): number {
  if (!Number.isInteger(offset) || offset < 0 || offset >= chip.ngpio) {
    throw new RangeError(`GPIO ${offset} is outside ${chip.label} (0-${chip.ngpio - 1})`);
  }
  return chip.base + offset;
}
