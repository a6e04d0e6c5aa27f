export type { Board, Console, LedColor, LedName, LedState, Leds, ResetButton } from './hal.js';
export { LED_NAMES } from './hal.js';
export { SimBoard, SimResetButton, describeLed } from './sim.js';
