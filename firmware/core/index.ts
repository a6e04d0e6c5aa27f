export { type Clock, type TimerHandle, systemClock, FakeClock } from './clock.js';
export { type Random, cryptoRandom, seededRandom } from './random.js';
export { type Logger, createLogger, silentLogger } from './log.js';
export { Counters } from './counters.js';
export { type ErrorCode, PbxError, isPbxError } from './errors.js';
export { writeFileAtomic, writeFileAtomicSync, fsyncDir, fsyncDirSync, parseTempName, MAX_TEMP_ATTEMPTS } from './fs.js';
export { LogBuffer, bufferedLogger, scrubSecrets, isLogLevel, LOG_LEVELS, DEFAULT_LOG_LINES, MAX_LOG_LINE_CHARS, REDACTED, type LogEntry, type LogLevelName } from './log-buffer.js';
