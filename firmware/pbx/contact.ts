import { PbxError } from '../core/index.js';
import {
  DONT_BIND_PORT_PATTERN, paramValue, parseNameAddrList, parseUri, uriEquals, type UriParam,
} from '../sip/message/index.js';

/**
 * Contact header values as the registrar stores them: the URI verbatim, the
 * phone's identity (RFC 5626 +sip.instance and reg-id) and one narrow
 * tolerance the strict URI parser does not have.
 *
 * The tolerance: liblinphone's "don't bind" transports (a phone that must not
 * listen, common on mobile) write the port as -2 (its LC_SIP_TRANSPORT_DONTBIND)
 * in the Contact: `<sip:alice@127.0.0.1:-2;transport=tls>`. The SIP grammar
 * allows only digits there, so parseUri refuses the URI and stays strict; the
 * message parser's whole-message check reads ":-2" as "no port" so that such
 * a REGISTER reaches this code at all, and every other consumer (dialogs, the
 * INVITE's Contact) still refuses it. Here, where a REGISTER binds a contact,
 * the registrar decides when it is usable: on a connection the box sends
 * requests back over that connection and never needs the port; over UDP it
 * would, so there it is 400. The URI is kept as the phone wrote it, so the 200
 * echoes the phone's own contact and the INVITE toward it carries it as the
 * Request-URI, as Kamailio does. (linphonec 5.1 itself rewrites its Contact
 * to its connection's local port after the 401, from the Via received/rport,
 * so only its first REGISTER carries ":-2"; other builds may keep it.)
 */

/** liblinphone's LC_SIP_TRANSPORT_DONTBIND, as written in its Contact port. */
export const DONT_BIND_PORT = -2;

/** "scheme:[userinfo@]host" immediately followed by ":-2" (the message layer's one definition). */
const DONT_BIND = DONT_BIND_PORT_PATTERN;

export interface ContactEntry {
  /** The URI as the phone wrote it (":-2" kept). */
  readonly uri: string;
  readonly params: readonly UriParam[];
  /** The phone gave port -2: it does not listen, only its connection reaches it. */
  readonly dontBind: boolean;
  /** RFC 5626 4.1 / RFC 5627: the URN inside +sip.instance="<...>", lower-cased. */
  readonly instance?: string;
  /** RFC 5626 4.2: reg-id, meaningful only with an instance. */
  readonly regId?: number;
}

/** The URN of a +sip.instance parameter value (`"<urn:uuid:...>"`), or undefined when absent or empty. */
export function instanceOf(params: readonly UriParam[]): string | undefined {
  const raw = paramValue(params, '+sip.instance');
  if (raw === undefined || raw === null) return undefined;
  const urn = raw.replace(/^"(.*)"$/s, '$1').replace(/^<(.*)>$/s, '$1').trim().toLowerCase();
  return urn.length > 0 && urn.length <= 256 ? urn : undefined;
}

function regIdOf(params: readonly UriParam[]): number | undefined {
  const raw = paramValue(params, 'reg-id');
  if (raw === undefined || raw === null || !/^\d{1,9}$/.test(raw)) return undefined;
  const n = Number(raw);
  // RFC 5626 section 13: reg-id = 1*DIGIT with the value from 1 to 2^31.
  return n >= 1 ? n : undefined;
}

function entry(uri: string, params: readonly UriParam[], dontBind: boolean): ContactEntry {
  const instance = instanceOf(params);
  const regId = instance === undefined ? undefined : regIdOf(params);
  return {
    uri, params, dontBind,
    ...(instance === undefined ? {} : { instance }),
    ...(regId === undefined ? {} : { regId }),
  };
}

/**
 * One Contact list item (already split at commas). Throws PbxError 'parse'
 * when it is not a name-addr even with ":-2" read as "no port".
 */
export function parseContactItem(item: string): ContactEntry[] {
  try {
    return parseNameAddrList(item).map((na) => entry(na.uri, na.params, false));
  } catch (strictError) {
    const m = DONT_BIND.exec(item);
    if (m === null || m[1] === undefined) throw strictError;
    const prefix = m[1];
    const parsed = parseNameAddrList(item.replace(m[0], prefix));
    if (parsed.length !== 1 || parsed[0] === undefined || !parsed[0].uri.startsWith(prefix)) throw strictError;
    const na = parsed[0];
    return [entry(`${m[0]}${na.uri.slice(prefix.length)}`, na.params, true)];
  }
}

/** The URI with a don't-bind ":-2" taken out, so the strict parser can read it. */
export function withoutDontBind(uri: string): { uri: string; dontBind: boolean } {
  const m = DONT_BIND.exec(uri);
  if (m === null || m[1] === undefined || m.index !== 0) return { uri, dontBind: false };
  return { uri: uri.replace(m[0], m[1]), dontBind: true };
}

/** RFC 3261 19.1.4 URI equality, reading a don't-bind port as its own kind of port. */
export function sameContact(a: string, b: string): boolean {
  const x = withoutDontBind(a);
  const y = withoutDontBind(b);
  if (x.dontBind !== y.dontBind) return false;
  try { return uriEquals(parseUri(x.uri), parseUri(y.uri)); } catch { return a === b; }
}

/** The Contact items of a request, tolerating nothing worse than ":-2"; a PbxError 'parse' otherwise. */
export function parseContacts(values: readonly string[]): ContactEntry[] {
  const out: ContactEntry[] = [];
  for (const v of values) {
    if (v.trim().length === 0) throw new PbxError('parse', 'empty Contact item');
    out.push(...parseContactItem(v));
  }
  return out;
}
