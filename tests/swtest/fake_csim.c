/* A stand-in accelerator with the C-simulation ABI of csim/csim_bridge.cpp (docs/contracts.md),
 * used only by the software tests: out[j] = 2 * in[j % N_IN] + bias, float words, where `bias`
 * is the first float of the last weight image loaded (the header is checked like the IP does).
 * Build: cc -shared -fPIC -DN_IN=4 -DN_OUT=3 -DFP=0x12345678 [-DLITE_MAX=2] fake_csim.c */
#include <stdint.h>
#include <string.h>

#ifndef LITE_MAX
#define LITE_MAX 0
#endif

static float bias;
static int valid;

int nnaccel_csim_start(uint32_t command, uint32_t n_samples, const void *in_words, void *out_words,
                       const void *weight_words, uint32_t *regs_out) {
    const float *in = (const float *)in_words;
    float *out = (float *)out_words;
    uint32_t err = 0, done = 0, s, j;
    if (command == 0 || (command & ~3u)) {
        err = 6; /* BAD_COMMAND */
    } else {
        if (command & 1u) {
            const uint8_t *h = (const uint8_t *)weight_words;
            uint32_t magic, fp;
            if (h == NULL) {
                err = 1;
            } else {
                memcpy(&magic, h, 4);
                memcpy(&fp, h + 8, 4);
                if (magic != 0x57414E4Eu) err = 1;
                else if (fp != (uint32_t)FP) err = 3;
                else {
                    memcpy(&bias, h + 32, 4);
                    valid = 1;
                }
            }
        }
        if (err == 0 && (command & 2u)) {
            if (!valid) err = 5;
            else if (LITE_MAX && n_samples > LITE_MAX) err = 7;
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
    regs_out[3] = 0x4E4E4102u;  /* IDENT, register map version 2 */
    regs_out[4] = done;
    return 0;
}
