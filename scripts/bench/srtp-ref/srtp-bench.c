/*
 * libsrtp side of `npm run bench:srtp`: ns per packet for protect, unprotect
 * and the transcoding hop (unprotect with leg A's keys, protect with leg B's)
 * on a G.711 packet (12-byte header + 160 bytes), timed the same way as the
 * Node side in scripts/bench/srtp.ts. Built by that script with
 * cc -O2 srtp-bench.c $(pkg-config --cflags --libs libsrtp2).
 *
 * usage: srtp-bench SUITE PACKETS   -> lines "protect NS", "unprotect NS", "hop NS"
 */
#include <srtp2/srtp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HEADER 12
#define PAYLOAD 160
#define PLAIN (HEADER + PAYLOAD)
#define SLOT (PLAIN + SRTP_MAX_TRAILER_LEN)
/* Packets are protected (untimed) a chunk at a time, then the chunk is timed. */
#define CHUNK 1024

static int set_policy(const char *suite, srtp_policy_t *p)
{
    if (!strcmp(suite, "AES_CM_128_HMAC_SHA1_80")) {
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p->rtp);
    } else if (!strcmp(suite, "AES_CM_128_HMAC_SHA1_32")) {
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&p->rtp);
    } else if (!strcmp(suite, "AES_256_CM_HMAC_SHA1_80")) {
        srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(&p->rtp);
    } else if (!strcmp(suite, "AES_256_CM_HMAC_SHA1_32")) {
        srtp_crypto_policy_set_aes_cm_256_hmac_sha1_32(&p->rtp);
    } else if (!strcmp(suite, "AEAD_AES_128_GCM")) {
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&p->rtp);
    } else if (!strcmp(suite, "AEAD_AES_256_GCM")) {
        srtp_crypto_policy_set_aes_gcm_256_16_auth(&p->rtp);
    } else {
        return -1;
    }
    p->rtcp = p->rtp;
    return 0;
}

static srtp_t make(const char *suite, int tx, unsigned char seed)
{
    static unsigned char keys[8][64];
    static int used;
    unsigned char *key = keys[used++ & 7];
    srtp_policy_t p;
    memset(&p, 0, sizeof p);
    if (set_policy(suite, &p)) {
        fprintf(stderr, "unknown suite %s\n", suite);
        exit(2);
    }
    for (int i = 0; i < 64; i++) key[i] = (unsigned char)(seed * 31 + i);
    p.key = key;
    p.ssrc.type = tx ? ssrc_any_outbound : ssrc_any_inbound;
    p.window_size = 128;
    srtp_t s;
    srtp_err_status_t st = srtp_create(&s, &p);
    if (st != srtp_err_status_ok) {
        fprintf(stderr, "srtp_create %s: %d\n", suite, (int)st);
        exit(3);
    }
    return s;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void packet(unsigned char *b, uint32_t n)
{
    b[0] = 0x80;
    b[1] = 0;
    b[2] = (unsigned char)(n >> 8);
    b[3] = (unsigned char)n;
    uint32_t ts = n * 160;
    b[4] = (unsigned char)(ts >> 24); b[5] = (unsigned char)(ts >> 16); b[6] = (unsigned char)(ts >> 8); b[7] = (unsigned char)ts;
    b[8] = 0x12; b[9] = 0x34; b[10] = 0x56; b[11] = 0x78;
    for (int i = 0; i < PAYLOAD; i++) b[HEADER + i] = (unsigned char)(0xd5 ^ i);
}

static unsigned char chunk[CHUNK][SLOT];
static int lens[CHUNK];

/* Fills the chunk with packets n .. n+CHUNK-1 protected by `by`. */
static void fill(srtp_t by, uint32_t n)
{
    for (int i = 0; i < CHUNK; i++) {
        packet(chunk[i], n + (uint32_t)i);
        lens[i] = PLAIN;
        if (srtp_protect(by, chunk[i], &lens[i]) != srtp_err_status_ok) {
            fprintf(stderr, "protect failed\n");
            exit(4);
        }
    }
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s SUITE PACKETS\n", argv[0]);
        return 2;
    }
    const char *suite = argv[1];
    long packets = atol(argv[2]);
    long rounds = packets / CHUNK;
    if (rounds < 2) rounds = 2;
    if (srtp_init() != srtp_err_status_ok) return 1;

    /* protect: a fresh copy of the clear packet each time, as a relay would hand over */
    {
        srtp_t tx = make(suite, 1, 1);
        static unsigned char plain[PLAIN], work[SLOT];
        packet(plain, 0);
        uint64_t total = 0;
        for (long r = -1; r < rounds; r++) { /* round -1 warms up */
            uint64_t t0 = now_ns();
            for (int i = 0; i < CHUNK; i++) {
                uint32_t n = (uint32_t)((r + 1) * CHUNK + i);
                memcpy(work, plain, PLAIN);
                work[2] = (unsigned char)(n >> 8);
                work[3] = (unsigned char)n;
                int len = PLAIN;
                if (srtp_protect(tx, work, &len) != srtp_err_status_ok) return 4;
            }
            if (r >= 0) total += now_ns() - t0;
        }
        printf("protect %.1f\n", (double)total / (double)(rounds * CHUNK));
        srtp_dealloc(tx);
    }
    /* unprotect */
    {
        srtp_t tx = make(suite, 1, 2), rx = make(suite, 0, 2);
        uint64_t total = 0;
        for (long r = -1; r < rounds; r++) {
            fill(tx, (uint32_t)((r + 1) * CHUNK));
            uint64_t t0 = now_ns();
            for (int i = 0; i < CHUNK; i++) {
                if (srtp_unprotect(rx, chunk[i], &lens[i]) != srtp_err_status_ok) return 5;
            }
            if (r >= 0) total += now_ns() - t0;
        }
        printf("unprotect %.1f\n", (double)total / (double)(rounds * CHUNK));
        srtp_dealloc(tx);
        srtp_dealloc(rx);
    }
    /* hop: unprotect with leg A's keys, protect in place with leg B's */
    {
        srtp_t txa = make(suite, 1, 3), rxa = make(suite, 0, 3), txb = make(suite, 1, 4);
        uint64_t total = 0;
        for (long r = -1; r < rounds; r++) {
            fill(txa, (uint32_t)((r + 1) * CHUNK));
            uint64_t t0 = now_ns();
            for (int i = 0; i < CHUNK; i++) {
                if (srtp_unprotect(rxa, chunk[i], &lens[i]) != srtp_err_status_ok) return 6;
                if (srtp_protect(txb, chunk[i], &lens[i]) != srtp_err_status_ok) return 7;
            }
            if (r >= 0) total += now_ns() - t0;
        }
        printf("hop %.1f\n", (double)total / (double)(rounds * CHUNK));
        srtp_dealloc(txa);
        srtp_dealloc(rxa);
        srtp_dealloc(txb);
    }
    return 0;
}
