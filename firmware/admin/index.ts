export { AdminServer, type AdminServerOptions, type TlsMaterial } from './server.js';
