export { ControlServer, callControl, isAlive, controlSocketPath, CONTROL_SOCKET, type ControlRequest, type ControlReply, type ControlHandler } from './socket.js';
export { executeCommand, type CommandContext, type StatusReport } from './commands.js';
