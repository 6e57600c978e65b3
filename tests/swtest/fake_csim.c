/* A stand-in accelerator with the C-simulation ABI of csim/csim_bridge.cpp (docs/contracts.md),
 * used only by the software tests: out[j] = 2 * in[j % N_IN] + bias, float words, where `bias`
 * is the first float of the last weight image loaded (the header is checked like the IP does; the
 * payload CRC-32 too, after the weights are overwritten: a mismatch leaves no valid weights).
 * IDENT and the LAST_ERROR codes come from regmap.json, passed as -D flags by tests/swtest.
 * Build: cc -shared -fPIC -DN_IN=4 -DN_OUT=3 -DFP=0x12345678 -DIDENT=.. -DERR_BAD_MAGIC=.. ... [-DLITE_MAX=2] */
#include <stdint.h>
#include <string.h>

#ifndef LITE_MAX
#define LITE_MAX 0
#endif

static float bias;
static int valid;

static uint32_t crc32(const uint8_t *p, uint32_t n) {
    uint32_t c = 0xFFFFFFFFu, k;
    while (n--) {
        c ^= *p++;
        for (k = 0; k < 8; k++) c = c & 1u ? (c >> 1) ^ 0xEDB88320u : c >> 1;
    }
    return ~c;
}

int nnaccel_csim_start(uint32_t command, uint32_t n_samples, const void *in_words, void *out_words,
                       const void *weight_words, uint32_t *regs_out) {
    const float *in = (const float *)in_words;
    float *out = (float *)out_words;
    uint32_t err = 0, done = 0, s, j;
    if (command == 0 || (command & ~3u)) {
        err = ERR_BAD_COMMAND;
    } else {
        if (command & 1u) {
            const uint8_t *h = (const uint8_t *)weight_words;
            uint32_t magic, fp, payload, crc;
            if (h == NULL) {
                err = ERR_BAD_MAGIC;
            } else {
                memcpy(&magic, h, 4);
                memcpy(&fp, h + 8, 4);
                memcpy(&payload, h + 16, 4);
                memcpy(&crc, h + 24, 4);
                if (magic != 0x57414E4Eu) err = ERR_BAD_MAGIC;
                else if (fp != (uint32_t)FP) err = ERR_BAD_FINGERPRINT;
                else if (payload != 16u) err = ERR_BAD_LENGTH;
                else {
                    valid = 0; /* cleared before the first weight write, as the IP */
                    memcpy(&bias, h + 32, 4);
                    if (crc32(h + 32, payload) != crc) err = ERR_BAD_CRC;
                    else valid = 1;
                }
            }
        }
        if (err == 0 && (command & 2u)) {
            if (!valid) err = ERR_NO_WEIGHTS;
            else if (LITE_MAX && n_samples > LITE_MAX) err = ERR_BATCH_TOO_LARGE;
            else {
                for (s = 0; s < n_samples; s++)
                    for (j = 0; j < N_OUT; j++) out[s * N_OUT + j] = 2.0f * in[s * N_IN + j % N_IN] + bias;
                done = n_samples;
            }
        }
    }
    regs_out[0] = (valid ? 1u : 0u) | 2u;
    regs_out[1] = err;
    regs_out[2] = (uint32_t)FP;
    regs_out[3] = (uint32_t)IDENT;
    regs_out[4] = done;
    return 0;
}
