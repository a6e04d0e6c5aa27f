/** Audio codecs and files: G.711 companding, WAV read and write. */
export { decodeG711, encodeG711, g711Silence, linearToAlaw, linearToUlaw, alawToLinear, ulawToLinear, type G711Law } from './g711.js';
export {
  readWav, resample, wavToTelephone, wavHeader, writeWav,
  MAX_WAV_BYTES, MIN_WAV_RATE, MAX_WAV_RATE, MAX_WAV_CHANNELS, type WavInfo, type DecodedWav,
} from './wav.js';
