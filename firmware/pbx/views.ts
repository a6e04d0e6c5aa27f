/**
 * What call control shows of a call to the CLI, the web page and the call
 * records: plain data, no secrets (never a key). The shapes are the admin
 * API's (firmware/api), so the page and the B2BUA that builds them agree.
 */

export type { CallView, LegView, MediaProtection } from '../api/index.js';
