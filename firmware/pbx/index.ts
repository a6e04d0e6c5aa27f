export { LocationService, type Binding, type BindingPersistence, type TransportName } from './location.js';
export { Registrar, type AccountDirectory, type AccountInfo, type RegistrarDeps, type RegistrarLimits, type RequestSource } from './registrar.js';
export { PbxCore } from './core.js';
export { fileBindingPersistence, REGISTRATIONS_FILE } from './persistence.js';
export type { CallView, LegView, MediaProtection } from './views.js';
