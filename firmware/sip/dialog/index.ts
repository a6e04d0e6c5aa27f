export { acceptRemoteSeq, dialogAsUac, dialogAsUas, dialogRequest, inDialog, refreshTarget, type Dialog } from './dialog.js';
