import { runDtlsCalls } from './dtls-calls.js';

/* baresip mediaenc=dtls_srtp calls baresip srtp-mand through the box: DTLS-SRTP bridged to SDES (dtls-calls.ts). */
await runDtlsCalls('sdes');
