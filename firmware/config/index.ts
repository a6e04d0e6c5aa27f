export {
  CURRENT_SCHEMA_VERSION, DEFAULT_POLICY, DEFAULT_REALM, MAX_ACCOUNTS, MAX_POLICIES, EXTENSION_PATTERN,
  ConfigSchema, AccountSchema, PolicySchema, CallerStreamSchema, CalleeStreamSchema,
  type Config, type ConfigInput, type Account, type Policy, type CallerStream, type CalleeStream,
  type RingGroup, type FeatureCodes, type Features, type Forward,
  defaultConfig, formatIssues,
  PhoneSchema, VendorSchema, PasswordModeSchema, TlsModeSchema, MAC_PATTERN, MAX_PHONES, PROVISION_REALM,
  type Phone, type Vendor, type PasswordMode, type TlsMode,
} from './schema.js';
export { RecordModeSchema, RoomSchema, RecordingSchema, MAX_ROOMS, MAX_ROOM_PARTICIPANTS, type RecordMode, type Room } from './schema.js';
export { type Migration, type MigrationContext, type MigrationResult, MIGRATIONS, migrate, fileVersion } from './migrations.js';
export {
  ConfigStore, CONFIG_FILE, LAST_GOOD_SUFFIX, decodeConfig,
  type ConfigHealth, type ConfigStoreOptions, type ConfigListener, type ConfigMutation,
  type DecodedConfig, type DeepReadonly, type ReadonlyConfig,
} from './store.js';
export { DurableJsonFile, MAX_CONFIG_BYTES, CONFIG_FILE_MODE } from './durable-file.js';
export {
  addAccount, removeAccount, setPassword, listAccounts, importAccountsCsv, toAccountView,
  MIN_SIP_PASSWORD_LENGTH, MAX_SIP_PASSWORD_LENGTH,
  type NewAccount, type AccountView, type CsvImportResult,
} from './accounts.js';
export { parseCsv, type CsvRecord, MAX_CSV_BYTES } from './csv.js';
export { digestHa1, type DigestAlgorithm } from './digest.js';
export {
  hashPassword, verifyPassword, type ScryptParams,
  MIN_ADMIN_PASSWORD_LENGTH, MAX_ADMIN_PASSWORD_LENGTH,
} from './password.js';
export { LOCK_FILE, tryLockConfig, type LockAttempt, type LockHolder } from './lock.js';
export {
  TrunkSchema, OutboundRouteSchema, DidSchema, DialRightsSchema, TrunkingSchema, TRUNK_NAME_PATTERN, MAX_TRUNKS,
  type Trunk, type OutboundRouteConfig, type Did, type Trunking,
} from './schema.js';
export {
  setAccountFeatures, addRingGroup, removeRingGroup, listRingGroups, isDialTarget,
  type AccountFeatureChange, type ForwardChange, type NewRingGroup,
} from './features.js';
export { hashPin, checkPin, voicemailOn, VOICEMAIL_PIN_PATTERN } from './features.js';
export { AttendantSchema } from './schema.js';
