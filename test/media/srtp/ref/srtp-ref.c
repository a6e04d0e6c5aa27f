/*
 * libsrtp reference for the SRTP cross-check tests (test/media/srtp/libsrtp.test.ts).
 * Built at test time: cc srtp-ref.c $(pkg-config --cflags --libs libsrtp2).
 *
 * One command per line on stdin, one answer line on stdout:
 *   caps                                   -> "caps SUITE ..." (suites srtp_create accepts)
 *   new NAME tx|rx SUITE KEYHEX SALTHEX MKIHEX|-   -> "ok" | "err CODE"
 *   rtp NAME HEX  /  rtcp NAME HEX         -> "ok HEX" | "err CODE"
 * A tx context protects, an rx context unprotects. Contexts accept any SSRC.
 */
#include <srtp2/srtp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CTX 64
#define MAX_LINE 16384
#define MAX_PKT 4096

struct ctx {
    char name[64];
    int tx;
    int use_mki;
    srtp_t session;
};

static struct ctx ctxs[MAX_CTX];
static int nctx;

static const char *suites[] = {
    "AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32", "AES_256_CM_HMAC_SHA1_80",
    "AES_256_CM_HMAC_SHA1_32", "AEAD_AES_128_GCM", "AEAD_AES_256_GCM",
};

/* RFC 4568 6.2.1 / RFC 6188: the _32 suites keep an 80-bit tag on SRTCP. */
static int set_policy(const char *suite, srtp_policy_t *p)
{
    if (!strcmp(suite, "AES_CM_128_HMAC_SHA1_80")) {
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p->rtp);
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p->rtcp);
    } else if (!strcmp(suite, "AES_CM_128_HMAC_SHA1_32")) {
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&p->rtp);
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p->rtcp);
    } else if (!strcmp(suite, "AES_256_CM_HMAC_SHA1_80")) {
        srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(&p->rtp);
        srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(&p->rtcp);
    } else if (!strcmp(suite, "AES_256_CM_HMAC_SHA1_32")) {
        srtp_crypto_policy_set_aes_cm_256_hmac_sha1_32(&p->rtp);
        srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(&p->rtcp);
    } else if (!strcmp(suite, "AEAD_AES_128_GCM")) {
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&p->rtp);
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&p->rtcp);
    } else if (!strcmp(suite, "AEAD_AES_256_GCM")) {
        srtp_crypto_policy_set_aes_gcm_256_16_auth(&p->rtp);
        srtp_crypto_policy_set_aes_gcm_256_16_auth(&p->rtcp);
    } else {
        return -1;
    }
    return 0;
}

static int unhex(const char *s, unsigned char *out, int max)
{
    int n = (int)strlen(s);
    if (n % 2 || n / 2 > max) return -1;
    for (int i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1) return -1;
        out[i] = (unsigned char)v;
    }
    return n / 2;
}

static void puthex(const unsigned char *b, int n)
{
    for (int i = 0; i < n; i++) printf("%02x", b[i]);
}

static struct ctx *find(const char *name)
{
    for (int i = 0; i < nctx; i++)
        if (!strcmp(ctxs[i].name, name)) return &ctxs[i];
    return NULL;
}

static int create(const char *suite, int tx, const unsigned char *keysalt, unsigned char *mki, int mkilen,
                  srtp_t *out)
{
    srtp_policy_t p;
    memset(&p, 0, sizeof p);
    if (set_policy(suite, &p)) return -1;
    p.ssrc.type = tx ? ssrc_any_outbound : ssrc_any_inbound;
    p.window_size = 128;
    p.allow_repeat_tx = 0;
    if (mkilen > 0) {
        /* Lives as long as the process, like the key bytes it points at. */
        srtp_master_key_t *mk = calloc(1, sizeof *mk);
        srtp_master_key_t **mks = calloc(1, sizeof *mks);
        if (!mk || !mks) return -1;
        mk->key = (unsigned char *)keysalt;
        mk->mki_id = mki;
        mk->mki_size = (unsigned)mkilen;
        mks[0] = mk;
        p.keys = mks;
        p.num_master_keys = 1;
    } else {
        p.key = (unsigned char *)keysalt;
    }
    return (int)srtp_create(out, &p);
}

int main(void)
{
    static char line[MAX_LINE];
    if (srtp_init() != srtp_err_status_ok) {
        printf("err init\n");
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\r\n")] = 0;
        char *cmd = strtok(line, " ");
        if (!cmd) continue;
        if (!strcmp(cmd, "caps")) {
            unsigned char ks[46];
            memset(ks, 1, sizeof ks);
            printf("caps");
            for (unsigned i = 0; i < sizeof suites / sizeof suites[0]; i++) {
                srtp_t s;
                if (create(suites[i], 1, ks, NULL, 0, &s) == 0) {
                    printf(" %s", suites[i]);
                    srtp_dealloc(s);
                }
            }
            printf("\n");
        } else if (!strcmp(cmd, "new")) {
            char *name = strtok(NULL, " "), *dir = strtok(NULL, " "), *suite = strtok(NULL, " ");
            char *key = strtok(NULL, " "), *salt = strtok(NULL, " "), *mkihex = strtok(NULL, " ");
            unsigned char keysalt[64], mki[SRTP_MAX_MKI_LEN];
            static unsigned char keep[MAX_CTX][64];
            int kl, sl, ml = 0;
            if (!name || !dir || !suite || !key || !salt || !mkihex || nctx >= MAX_CTX || strlen(name) >= 64) {
                printf("err usage\n");
                continue;
            }
            kl = unhex(key, keysalt, 32);
            sl = kl < 0 ? -1 : unhex(salt, keysalt + kl, 64 - kl);
            if (strcmp(mkihex, "-")) ml = unhex(mkihex, mki, SRTP_MAX_MKI_LEN);
            if (kl < 0 || sl < 0 || ml < 0) {
                printf("err hex\n");
                continue;
            }
            struct ctx *c = &ctxs[nctx];
            memcpy(keep[nctx], keysalt, sizeof keysalt);
            static unsigned char keepmki[MAX_CTX][SRTP_MAX_MKI_LEN];
            memcpy(keepmki[nctx], mki, sizeof mki);
            int st = create(suite, !strcmp(dir, "tx"), keep[nctx], keepmki[nctx], ml, &c->session);
            if (st) {
                printf("err %d\n", st);
                continue;
            }
            snprintf(c->name, sizeof c->name, "%s", name);
            c->tx = !strcmp(dir, "tx");
            c->use_mki = ml > 0;
            nctx++;
            printf("ok\n");
        } else if (!strcmp(cmd, "rtp") || !strcmp(cmd, "rtcp")) {
            char *name = strtok(NULL, " "), *hex = strtok(NULL, " ");
            static unsigned char pkt[MAX_PKT + SRTP_MAX_TRAILER_LEN + 4];
            struct ctx *c = name ? find(name) : NULL;
            int n = hex ? unhex(hex, pkt, MAX_PKT) : -1;
            if (!c || n < 0) {
                printf("err usage\n");
                continue;
            }
            int rtcp = !strcmp(cmd, "rtcp");
            srtp_err_status_t st;
            if (c->tx)
                st = rtcp ? srtp_protect_rtcp_mki(c->session, pkt, &n, c->use_mki, 0)
                          : srtp_protect_mki(c->session, pkt, &n, c->use_mki, 0);
            else
                st = rtcp ? srtp_unprotect_rtcp_mki(c->session, pkt, &n, c->use_mki)
                          : srtp_unprotect_mki(c->session, pkt, &n, c->use_mki);
            if (st != srtp_err_status_ok) {
                printf("err %d\n", (int)st);
                continue;
            }
            printf("ok ");
            puthex(pkt, n);
            printf("\n");
        } else {
            printf("err command\n");
        }
    }
    return 0;
}
