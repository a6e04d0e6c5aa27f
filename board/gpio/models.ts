import { z } from 'zod';
import pi4 from './models/raspberry-pi-4.json' with { type: 'json' };
import pi5 from './models/raspberry-pi-5.json' with { type: 'json' };
import type { LedColor, LedName } from '../hal.js';

/**
 * Pin maps per board model (models/*.json): which header GPIOs (BCM numbers,
 * offsets on the chip labelled chipLabels) light each LED in each colour, and
 * where the reset button is. Amber on a red/green LED is both dies at once.
 */
const Lines = z.array(z.number().int().min(0).max(511)).min(1);
const ColorLines = z.object({ green: Lines, amber: Lines, red: Lines, blue: Lines }).partial()
  .refine((m) => Object.keys(m).length > 0, 'an LED needs at least one colour');
const PinMapSchema = z.object({
  name: z.string().min(1),
  match: z.array(z.string().min(1)).min(1),
  chipLabels: z.array(z.string().min(1)).min(1),
  leds: z.object({ power: ColorLines, registration: ColorLines, call: ColorLines, error: ColorLines }),
  button: z.object({ gpio: z.number().int().min(0).max(511), activeLow: z.boolean() }),
}).strict();

export type PinMap = Readonly<{
  name: string;
  match: readonly string[];
  chipLabels: readonly string[];
  leds: Readonly<Record<LedName, Partial<Record<LedColor, readonly number[]>>>>;
  button: Readonly<{ gpio: number; activeLow: boolean }>;
}>;

export function parsePinMap(json: unknown): PinMap {
  return PinMapSchema.parse(json);
}

export const PIN_MAPS: readonly PinMap[] = [parsePinMap(pi4), parsePinMap(pi5)];

/** The pin map for a device-tree model string ("Raspberry Pi 5 Model B Rev 1.0"), if we know the board. */
export function pinMapFor(model: string, maps: readonly PinMap[] = PIN_MAPS): PinMap | undefined {
  const m = model.replace(/\0/g, '').trim();
  return maps.find((p) => p.match.some((prefix) => m.startsWith(prefix)));
}
