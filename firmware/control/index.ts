export { ControlServer, callControl, isAlive, controlSocketPath, CONTROL_SOCKET, type ControlRequest, type ControlReply, type ControlHandler } from './socket.js';
export {
  executeCommand, generatePassword, readCallHistory, CommandError,
  CALLS_FILE, DEFAULT_CALL_HISTORY, MAX_CALL_HISTORY, GENERATED_PASSWORD_LENGTH,
  type CommandContext, type StatusReport, type CertSource, type CustomCertUpload,
} from './commands.js';
