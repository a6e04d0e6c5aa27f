import { runDtlsCalls } from './dtls-calls.js';

/* baresip mediaenc=dtls_srtp calls linphonec media_encryption=dtls: relayed under forced_relay, bridged under decrypt/dtls (dtls-calls.ts). */
await runDtlsCalls('linphone');
