export { UpdateError, isUpdateError, type UpdateErrorCode } from './errors.js';
export { readTar, writeTar, safePath, type TarEntry } from './tar.js';
export {
  BUNDLE_FORMAT, MAX_BUNDLE_BYTES, MAX_FILES, MAX_UNPACKED_BYTES, PRODUCT, compareVersions, createBundle, keyFingerprint, parsePublicKeys, verifyBundle,
  type Manifest, type PayloadFile, type VerifiedBundle,
} from './bundle.js';
export {
  DEFAULT_KEYS_DIR, DEFAULT_SLOTS_ROOT, STATE_FILE, SUPERVISOR_PID_FILE, SlotStore, installBundle, loadTrustedKeys, otherSlot, signalSupervisor, slotsExist, slotsRootOf, supervisorPid,
  type InstallOptions, type Installed, type SlotName, type SlotState,
} from './slots.js';
export { checkHealth, sipAnswers, webAnswers, type HealthResult } from './health.js';
export { DEFAULT_HEALTH_TIMEOUT_MS, Supervisor, afterHealth, bootPlan, type BootPlan, type SupervisorOptions } from './supervisor.js';
export { UPDATE_USAGE, UpdateUsageError, bootCommand, updateCommand } from './cli.js';
export { readTree } from './pack.js';
