export {
  ControlServer, LineReader, callControl, isAlive, controlSocketPath, CONTROL_SOCKET, MAX_REQUEST_BYTES, MAX_REPLY_BYTES, CONTROL_TIMEOUT_MS,
  type ControlRequest, type ControlReply, type ControlHandler, type ControlServerOptions,
} from './socket.js';
export {
  executeCommand, generatePassword, readCallHistory, CommandError,
  CALLS_FILE, DEFAULT_CALL_HISTORY, MAX_CALL_HISTORY, GENERATED_PASSWORD_LENGTH,
  type CommandContext, type BlockControl, type BlockView, type BlockRemoved, type StatusReport, type CertSource, type CustomCertUpload,
} from './commands.js';
export { readFileLimited, MAX_INPUT_FILE_BYTES } from './files.js';
export { RECORD_MODES, RECORDINGS_DIR, recordingEntry, type RecordingControl } from './recording.js';
export {
  type ProvisioningControl, type DeviceCertControl, PHONE_READ_ONLY, PHONE_NEEDS_RUNNING, DEFAULT_WINDOW_MINUTES, MAX_WINDOW_MINUTES,
} from './phones.js';
export { VOICEMAIL_DIR, ATTENDANT_DIR, attendantGreetingPath, type VoicemailControl, type VoicemailListEntry } from './voicemail.js';
export { CALL_ID_PATTERN, type CallControl } from './calls.js';
