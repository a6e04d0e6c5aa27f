export { acceptRemoteSeq, dialogAsUac, dialogAsUas, dialogRequest, inDialog, type Dialog } from './dialog.js';
