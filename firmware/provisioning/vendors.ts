import type { VendorName } from './files.js';

/**
 * The provisioning files themselves, one generator per vendor, each in the
 * vendor's own format. Pure: a profile in, text out. Every file sets SIP over
 * TLS to the box's TLS port, SRTP (mandatory when the account requires SDES),
 * the box's CA (inline where the format takes a PEM, by HTTPS URL where the
 * phone only takes a URL), NTP and time zone, and the account's display name.
 * `password: null` leaves the password out altogether (never mode, once mode
 * after the first fetch, or an unauthenticated fetch).
 *
 * Parameter names follow the vendors' published configuration templates as
 * far as I know them; the tests check the element names below, so a name
 * found wrong is corrected here and there in one step.
 */

export type SrtpMode = 'mandatory' | 'optional';
export type TlsModeName = 'encrypt' | 'server' | 'mutual';

export interface PhoneProfile {
  readonly mac: string;
  readonly extension: string;
  readonly displayName: string;
  readonly password: string | null;
  readonly realm: string;
  /** The address phones reach the box at (IP or name). */
  readonly host: string;
  readonly sipTlsPort: number;
  /** https://host:port/provision/ */
  readonly httpsBase: string;
  readonly caPem: string;
  readonly tlsMode: TlsModeName;
  readonly srtp: SrtpMode;
  readonly ntpServer: string;
  readonly timeZone: string;
  readonly product: string;
}

export interface GeneratedFile {
  readonly contentType: string;
  readonly body: string;
}

export function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** Values on one line of a key = value file: no line breaks can slip in. */
function oneLine(s: string): string {
  return s.replace(/[\r\n]/g, ' ');
}

const verifies = (p: PhoneProfile): boolean => p.tlsMode !== 'encrypt';
const caUrl = (p: PhoneProfile): string => `${p.httpsBase}ca.crt`;

/** Yealink <mac>.cfg: "#!version:1.0.0.1" then key = value lines. */
export function yealinkCfg(p: PhoneProfile): GeneratedFile {
  const lines = [
    '#!version:1.0.0.1',
    `## ${p.product} provisioning for ${p.mac}, extension ${p.extension}`,
    'account.1.enable = 1',
    `account.1.label = ${oneLine(p.extension)}`,
    `account.1.display_name = ${oneLine(p.displayName)}`,
    `account.1.auth_name = ${p.extension}`,
    `account.1.user_name = ${p.extension}`,
    ...(p.password === null ? [] : [`account.1.password = ${oneLine(p.password)}`]),
    `account.1.sip_server.1.address = ${p.host}`,
    `account.1.sip_server.1.port = ${p.sipTlsPort}`,
    // 0 UDP, 1 TCP, 2 TLS, 3 DNS-NAPTR
    'account.1.sip_server.1.transport_type = 2',
    // 0 off, 1 optional, 2 compulsory
    `account.1.srtp_encryption = ${p.srtp === 'mandatory' ? 2 : 1}`,
    `security.trust_certificates = ${verifies(p) ? 1 : 0}`,
    // 1: only the certificates uploaded (ours), not the phone's built-in list
    'security.ca_cert = 1',
    `trusted_certificates.url = ${caUrl(p)}`,
    `static.auto_provision.server.url = ${p.httpsBase}`,
    `local_time.ntp_server1 = ${p.ntpServer}`,
    `local_time.time_zone_name = ${oneLine(p.timeZone)}`,
    '',
  ];
  return { contentType: 'text/plain; charset=utf-8', body: lines.join('\n') };
}

/** Polycom's master config (sip.ld style): which application and which config files to load. */
export function polycomMaster(mac: string | null): GeneratedFile {
  const files = mac === null ? 'phone[PHONE_MAC_ADDRESS].cfg' : `phone${mac}.cfg`;
  return {
    contentType: 'application/xml; charset=utf-8',
    body: `<?xml version="1.0" standalone="yes"?>\n<APPLICATION APP_FILE_PATH="sip.ld" CONFIG_FILES="${files}" MISC_FILES="" LOG_FILE_DIRECTORY="" OVERRIDES_DIRECTORY="" CONTACTS_DIRECTORY="" LICENSE_DIRECTORY=""/>\n`,
  };
}

/** Polycom per-phone file: a <polycomConfig> whose elements carry dotted parameter attributes. */
export function polycomPhone(p: PhoneProfile): GeneratedFile {
  const a = (attrs: Record<string, string>): string => Object.entries(attrs).map(([k, v]) => `${k}="${xmlEscape(v)}"`).join(' ');
  const reg: Record<string, string> = {
    'reg.1.address': p.extension,
    'reg.1.label': p.extension,
    'reg.1.displayName': p.displayName,
    'reg.1.auth.userId': p.extension,
    ...(p.password === null ? {} : { 'reg.1.auth.password': p.password }),
    'reg.1.server.1.address': p.host,
    'reg.1.server.1.port': String(p.sipTlsPort),
    'reg.1.server.1.transport': 'TLS',
  };
  const sec = {
    'sec.srtp.enable': '1',
    'sec.srtp.offer': '1',
    'sec.srtp.require': p.srtp === 'mandatory' ? '1' : '0',
    'sec.TLS.SIP.strictCertCommonNameValidation': verifies(p) ? '1' : '0',
  };
  const device = {
    'device.set': '1',
    'device.sec.TLS.customCaCert1.set': '1',
    'device.sec.TLS.customCaCert1': p.caPem.trim(),
    'device.prov.serverType.set': '1',
    'device.prov.serverType': 'HTTPS',
  };
  const time = { 'tcpIpApp.sntp.address': p.ntpServer, 'tcpIpApp.sntp.timezone': p.timeZone };
  const body = [
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>',
    `<!-- ${xmlEscape(p.product)} provisioning for ${p.mac}, extension ${xmlEscape(p.extension)} -->`,
    '<polycomConfig>',
    `  <reg ${a(reg)}/>`,
    `  <sec ${a(sec)}/>`,
    `  <device ${a(device)}/>`,
    `  <tcpIpApp ${a(time)}/>`,
    '</polycomConfig>',
    '',
  ].join('\n');
  return { contentType: 'application/xml; charset=utf-8', body };
}

/** snom snom<model>-<MAC>.htm: <settings> with <phone-settings> and <certificates>. */
export function snomXml(p: PhoneProfile): GeneratedFile {
  const s = (name: string, value: string, idx?: number): string =>
    `    <${name}${idx === undefined ? '' : ` idx="${idx}"`} perm="R">${xmlEscape(value)}</${name}>`;
  const proxy = `${p.host}:${p.sipTlsPort};transport=tls`;
  const body = [
    '<?xml version="1.0" encoding="utf-8"?>',
    `<!-- ${xmlEscape(p.product)} provisioning for ${p.mac}, extension ${xmlEscape(p.extension)} -->`,
    '<settings>',
    '  <phone-settings e="2">',
    s('user_active', 'on', 1),
    s('user_realname', p.displayName, 1),
    s('user_name', p.extension, 1),
    s('user_pname', p.extension, 1),
    ...(p.password === null ? [] : [s('user_pass', p.password, 1)]),
    s('user_host', p.host, 1),
    s('user_outbound', proxy, 1),
    s('user_srtp', 'on', 1),
    s('user_savp', p.srtp === 'mandatory' ? 'mandatory' : 'optional', 1),
    s('ntp_server', p.ntpServer),
    s('timezone', p.timeZone),
    s('setting_server', `${p.httpsBase}snom{model}-{mac}.htm`),
    s('https_server_cert_check', verifies(p) ? 'on' : 'off'),
    '  </phone-settings>',
    '  <certificates>',
    `    <certificate type="trusted">${xmlEscape(p.caPem.trim())}</certificate>`,
    '  </certificates>',
    '</settings>',
    '',
  ].join('\n');
  return { contentType: 'application/xml; charset=utf-8', body };
}

/**
 * Grandstream P-values (cfg<mac>.xml): P47 SIP server, P35 user ID, P36 auth
 * ID, P34 password, P3 display name, P130 transport (2 = TLS), P183 SRTP (1
 * enabled, 2 enabled and forced), P30 NTP server, P64 time zone, P8433 the
 * trusted CA (PEM), P8468 whether to check the server's certificate.
 */
export const GRANDSTREAM_P = {
  sipServer: 'P47', userId: 'P35', authId: 'P36', password: 'P34', displayName: 'P3', transport: 'P130', srtp: 'P183',
  ntp: 'P30', timeZone: 'P64', caCert: 'P8433', validateServer: 'P8468', configServer: 'P237', configVia: 'P212',
} as const;

export function grandstreamXml(p: PhoneProfile): GeneratedFile {
  const P = GRANDSTREAM_P;
  const v = (name: string, value: string): string => `    <${name}>${xmlEscape(value)}</${name}>`;
  const body = [
    '<?xml version="1.0" encoding="UTF-8" ?>',
    `<!-- ${xmlEscape(p.product)} provisioning for ${p.mac}, extension ${xmlEscape(p.extension)} -->`,
    '<gs_provision version="1">',
    `  <mac>${p.mac}</mac>`,
    '  <config version="1">',
    v(P.sipServer, `${p.host}:${p.sipTlsPort}`),
    v(P.userId, p.extension),
    v(P.authId, p.extension),
    ...(p.password === null ? [] : [v(P.password, p.password)]),
    v(P.displayName, p.displayName),
    v(P.transport, '2'),
    v(P.srtp, p.srtp === 'mandatory' ? '2' : '1'),
    v(P.ntp, p.ntpServer),
    v(P.timeZone, p.timeZone),
    v(P.caCert, p.caPem.trim()),
    v(P.validateServer, verifies(p) ? '1' : '0'),
    // 2: fetch the config over HTTPS, from the box
    v(P.configVia, '2'),
    v(P.configServer, p.httpsBase.replace(/^https:\/\//, '')),
    '  </config>',
    '</gs_provision>',
    '',
  ].join('\n');
  return { contentType: 'application/xml; charset=utf-8', body };
}

/** The CA file name the generic profiles expect beside themselves (bootstrap: fetch ca.crt once). */
export const GENERIC_CA_FILE = 'securepbx-ca.pem';

/** A baresip `accounts` file: one account line with every setting the account needs. */
export function baresipAccounts(p: PhoneProfile): GeneratedFile {
  const params = [
    'regint=300',
    `auth_user=${p.extension}`,
    ...(p.password === null ? [] : [`auth_pass=${p.password.replace(/[;>\s]/g, '')}`]),
    `outbound="sip:${p.host}:${p.sipTlsPort};transport=tls"`,
    `mediaenc=${p.srtp === 'mandatory' ? 'srtp-mand' : 'srtp'}`,
    'audio_codecs=pcmu,pcma',
  ];
  const display = p.displayName.replace(/["\\\r\n]/g, '');
  const body = [
    `# ${p.product} provisioning for ${p.mac}, extension ${p.extension}; baresip accounts file`,
    `# the box's CA: ${p.httpsBase}ca.crt (baresip config: sip_cafile ${GENERIC_CA_FILE})`,
    `"${display}" <sip:${p.extension}@${p.host}:${p.sipTlsPort};transport=tls>;${params.join(';')}`,
    '',
  ].join('\n');
  return { contentType: 'text/plain; charset=utf-8', body };
}

/** A linphone rc (linphonec -c FILE): the account, TLS to the box, SRTP, the CA beside the file. */
export function linphoneRc(p: PhoneProfile): GeneratedFile {
  const body = [
    `# ${p.product} provisioning for ${p.mac}, extension ${p.extension}; linphone rc`,
    `# the box's CA: ${p.httpsBase}ca.crt, saved as ${GENERIC_CA_FILE} in the working folder`,
    '[sip]',
    'sip_port=0',
    'sip_tcp_port=0',
    'sip_tls_port=-1',
    `verify_server_certs=${verifies(p) ? 1 : 0}`,
    `verify_server_cn=${verifies(p) ? 1 : 0}`,
    `root_ca=${GENERIC_CA_FILE}`,
    `media_encryption=srtp`,
    `media_encryption_mandatory=${p.srtp === 'mandatory' ? 1 : 0}`,
    'default_proxy=0',
    'register_only_when_network_is_up=0',
    'auto_net_state_mon=0',
    '',
    '[proxy_0]',
    `reg_proxy=<sip:${p.host}:${p.sipTlsPort};transport=tls>`,
    `reg_identity="${p.displayName.replace(/["\\\r\n]/g, '')}" <sip:${p.extension}@${p.host}>`,
    'reg_expires=300',
    'reg_sendregister=1',
    '',
    '[auth_info_0]',
    `username=${p.extension}`,
    ...(p.password === null ? [] : [`passwd=${oneLine(p.password)}`]),
    `realm=${p.realm}`,
    '',
  ].join('\n');
  return { contentType: 'text/plain; charset=utf-8', body };
}

/**
 * What plain HTTP serves for a vendor file name: a bootstrap that installs
 * the box's CA and points the phone at HTTPS, with no account and no secret
 * (real phones need this first step before they can trust the HTTPS server).
 */
export function bootstrapFile(vendor: VendorName, b: { readonly caPem: string; readonly httpsBase: string; readonly caHttpUrl: string; readonly product: string }): GeneratedFile {
  const ca = b.caPem.trim();
  switch (vendor) {
    case 'yealink':
      return { contentType: 'text/plain; charset=utf-8', body: [
        '#!version:1.0.0.1', `## ${b.product} bootstrap: install the CA, then provision over HTTPS`,
        'security.ca_cert = 1', `trusted_certificates.url = ${b.caHttpUrl}`, `static.auto_provision.server.url = ${b.httpsBase}`, '',
      ].join('\n') };
    case 'polycom':
      return { contentType: 'application/xml; charset=utf-8', body: [
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>', '<polycomConfig>',
        `  <device device.set="1" device.sec.TLS.customCaCert1.set="1" device.sec.TLS.customCaCert1="${xmlEscape(ca)}" device.prov.serverType.set="1" device.prov.serverType="HTTPS" device.prov.serverName.set="1" device.prov.serverName="${xmlEscape(b.httpsBase)}"/>`,
        '</polycomConfig>', '',
      ].join('\n') };
    case 'snom':
      return { contentType: 'application/xml; charset=utf-8', body: [
        '<?xml version="1.0" encoding="utf-8"?>', '<settings>', '  <phone-settings e="2">',
        `    <setting_server perm="R">${xmlEscape(`${b.httpsBase}snom{model}-{mac}.htm`)}</setting_server>`,
        '  </phone-settings>', '  <certificates>', `    <certificate type="trusted">${xmlEscape(ca)}</certificate>`, '  </certificates>', '</settings>', '',
      ].join('\n') };
    case 'grandstream':
      return { contentType: 'application/xml; charset=utf-8', body: [
        '<?xml version="1.0" encoding="UTF-8" ?>', '<gs_provision version="1">', '  <config version="1">',
        `    <${GRANDSTREAM_P.caCert}>${xmlEscape(ca)}</${GRANDSTREAM_P.caCert}>`,
        `    <${GRANDSTREAM_P.configVia}>2</${GRANDSTREAM_P.configVia}>`,
        `    <${GRANDSTREAM_P.configServer}>${xmlEscape(b.httpsBase.replace(/^https:\/\//, ''))}</${GRANDSTREAM_P.configServer}>`,
        '  </config>', '</gs_provision>', '',
      ].join('\n') };
    case 'generic':
      return { contentType: 'application/x-pem-file', body: `${ca}\n` };
  }
}
