export { LocationService, type Binding, type BindingPersistence, type TransportName } from './location.js';
export { MAX_CONTACTS_PER_ACCOUNT, Registrar, type RegistrarDeps, type RegistrarLimits } from './registrar.js';
export { authenticate, type AccountDirectory, type AccountInfo, type AuthDeps, type AuthOutcome, type RequestSource } from './auth.js';
export { PbxCore } from './core.js';
export { fileBindingPersistence, REGISTRATIONS_FILE } from './persistence.js';
export type { CallView, LegView, MediaProtection } from './views.js';
export { B2bua, type B2buaDeps, type CalleeAccount, type MediaControl } from './b2bua.js';
export { fileCallRecords, CALLS_FILE, type CallRecord, type CallRecords } from './records.js';
