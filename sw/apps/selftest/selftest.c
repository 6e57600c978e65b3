/* nn_accel self-test: load the weight image, run the N generated test vectors one at a time
 * and as one batch, compare every output word bit for bit with the accelerator's
 * C-simulation, report accuracy against the labels, mismatches, time per inference and per
 * weight load, and end with PASS or FAIL (exit status 0 / 1).
 * Its data comes from nna_selftest_data.h (`nnaccel header IPDIR -o DIR`). */
#include <string.h>

#include "nna.h"
#include "nna_selftest_data.h"
#include "selftest_platform.h"

#define MODEL NNA_SELFTEST_MODEL
#define IN_SAMPLE_BYTES (NNA_SELFTEST_N_INPUTS * sizeof nna_selftest_inputs[0])
#define OUT_SAMPLE_BYTES (NNA_SELFTEST_N_OUTPUTS * sizeof nna_selftest_expected[0])
#define SHOW_MISMATCHES 5u

static nna_dev_t dev;
static uint8_t out_single[sizeof nna_selftest_expected];
static uint8_t out_batch[sizeof nna_selftest_expected];
#if NNA_SELFTEST_HAVE_LABELS || NNA_SELFTEST_HAVE_KERAS
static float decoded[NNA_SELFTEST_N_OUTPUTS];

static unsigned argmax(const float *v, unsigned n) {
    unsigned i, best = 0;
    for (i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}
#endif

static int report_rc(const char *what, int rc) {
    if (rc == NNA_OK) return 0;
    ST_PRINTF("%s: error %d: %s", what, rc, nna_strerror(rc));
    if (rc == NNA_ERR_DEVICE || rc == NNA_ERR_DEVICE_CRC)
        ST_PRINTF(" (LAST_ERROR %u %s)", (unsigned)dev.last_device_error,
                  nna_device_error_name(&MODEL, dev.last_device_error));
    ST_PRINTF("\r\n");
    return 1;
}

/* Mismatching samples of `got` against the expected words; prints the first few. */
static unsigned compare(const char *pass, const uint8_t *got) {
    const uint8_t *want = (const uint8_t *)nna_selftest_expected;
    unsigned s, bad = 0;
    for (s = 0; s < NNA_SELFTEST_N; s++) {
        if (memcmp(got + s * OUT_SAMPLE_BYTES, want + s * OUT_SAMPLE_BYTES, OUT_SAMPLE_BYTES) == 0) continue;
        if (bad < SHOW_MISMATCHES) {
            unsigned j;
            for (j = 0; j < NNA_SELFTEST_N_OUTPUTS; j++) {
                uint32_t g = 0, w = 0;
                memcpy(&g, got + s * OUT_SAMPLE_BYTES + j * sizeof nna_selftest_expected[0], sizeof nna_selftest_expected[0]);
                w = nna_selftest_expected[s * NNA_SELFTEST_N_OUTPUTS + j];
                if (g != w) {
                    ST_PRINTF("  %s mismatch: sample %u output %u: got 0x%08x expected 0x%08x\r\n", pass, s, j,
                              (unsigned)g, (unsigned)w);
                    break;
                }
            }
        }
        bad++;
    }
    return bad;
}

int main(int argc, char **argv) {
    selftest_platform_t plat;
    size_t work = sizeof nna_selftest_inputs + sizeof nna_selftest_expected + 256u;
    unsigned s, mism_single, mism_batch, fails = 0;
    uint64_t t0, t_single, t_batch;
    int rc;

#if NNA_SELFTEST_HAVE_IMAGE
    if (work < NNA_SELFTEST_IMAGE_BYTES + 64u) work = NNA_SELFTEST_IMAGE_BYTES + 64u;
#endif
    if (selftest_platform_init(&plat, &MODEL, work, argc, argv) != 0) {
        ST_PRINTF("FAIL\r\n");
        return 1;
    }
    ST_PRINTF("nn_accel self-test: %s (%s) on %s, %u test vectors\r\n", MODEL.top, MODEL.vlnv, plat.name,
              (unsigned)NNA_SELFTEST_N);
    rc = nna_init(&dev, &MODEL, plat.hal, plat.base, plat.dma_base, &plat.mem);
    if (report_rc("init", rc)) goto fail;
    (void)nna_set_dma_max_bytes(&dev, plat.dma_max_bytes);
    ST_PRINTF("IP found: IDENT 0x%08x, fingerprint 0x%08x\r\n", (unsigned)MODEL.ident, (unsigned)MODEL.fingerprint);
    if (plat.use_irq && report_rc("interrupts", nna_enable_irq(&dev, 1))) goto fail;

#if NNA_SELFTEST_HAVE_IMAGE
    t0 = nna_hal_time_us(plat.hal);
    rc = nna_load_weights(&dev, nna_selftest_image, NNA_SELFTEST_IMAGE_BYTES);
    if (report_rc("load weights", rc)) goto fail;
    ST_PRINTF("weight load: %u bytes in %u us\r\n", (unsigned)NNA_SELFTEST_IMAGE_BYTES,
              (unsigned)(nna_hal_time_us(plat.hal) - t0));
#endif

    t0 = nna_hal_time_us(plat.hal);
    for (s = 0; s < NNA_SELFTEST_N; s++) {
        rc = nna_predict(&dev, (const uint8_t *)nna_selftest_inputs + s * IN_SAMPLE_BYTES,
                         out_single + s * OUT_SAMPLE_BYTES, 1);
        if (report_rc("predict", rc)) goto fail;
    }
    t_single = nna_hal_time_us(plat.hal) - t0;
    t0 = nna_hal_time_us(plat.hal);
    rc = nna_predict(&dev, nna_selftest_inputs, out_batch, NNA_SELFTEST_N);
    if (report_rc("predict batch", rc)) goto fail;
    t_batch = nna_hal_time_us(plat.hal) - t0;

    mism_single = compare("single", out_single);
    mism_batch = compare("batch", out_batch);
    ST_PRINTF("bit-exact vs C-simulation: %u/%u samples one at a time, %u/%u as one batch\r\n",
              (unsigned)(NNA_SELFTEST_N - mism_single), (unsigned)NNA_SELFTEST_N,
              (unsigned)(NNA_SELFTEST_N - mism_batch), (unsigned)NNA_SELFTEST_N);
    ST_PRINTF("time per inference: %u us one at a time, %u us in a batch of %u\r\n",
              (unsigned)(t_single / NNA_SELFTEST_N), (unsigned)(t_batch / NNA_SELFTEST_N), (unsigned)NNA_SELFTEST_N);
    fails += mism_single + mism_batch;

#if NNA_SELFTEST_HAVE_LABELS
    {
        unsigned correct = 0, keras_correct = 0;
        for (s = 0; s < NNA_SELFTEST_N; s++) {
            nna_decode_words(&MODEL.out_word, out_batch + s * OUT_SAMPLE_BYTES, decoded, NNA_SELFTEST_N_OUTPUTS);
            if ((int32_t)argmax(decoded, NNA_SELFTEST_N_OUTPUTS) == nna_selftest_labels[s]) correct++;
#if NNA_SELFTEST_HAVE_KERAS
            if ((int32_t)argmax(&nna_selftest_keras[s * NNA_SELFTEST_N_OUTPUTS], NNA_SELFTEST_N_OUTPUTS) ==
                nna_selftest_labels[s])
                keras_correct++;
#endif
        }
        ST_PRINTF("accuracy vs labels: accelerator %u/%u", correct, (unsigned)NNA_SELFTEST_N);
#if NNA_SELFTEST_HAVE_KERAS
        ST_PRINTF(", Keras %u/%u", keras_correct, (unsigned)NNA_SELFTEST_N);
#endif
        ST_PRINTF("\r\n");
        (void)keras_correct;
    }
#elif NNA_SELFTEST_HAVE_KERAS
    {
        unsigned agree = 0;
        for (s = 0; s < NNA_SELFTEST_N; s++) {
            nna_decode_words(&MODEL.out_word, out_batch + s * OUT_SAMPLE_BYTES, decoded, NNA_SELFTEST_N_OUTPUTS);
            if (argmax(decoded, NNA_SELFTEST_N_OUTPUTS) ==
                argmax(&nna_selftest_keras[s * NNA_SELFTEST_N_OUTPUTS], NNA_SELFTEST_N_OUTPUTS))
                agree++;
        }
        ST_PRINTF("argmax agreement with Keras: %u/%u\r\n", agree, (unsigned)NNA_SELFTEST_N);
    }
#endif

    if (fails) {
        ST_PRINTF("mismatching outputs: %u\r\n", fails);
        goto fail;
    }
    ST_PRINTF("PASS\r\n");
    selftest_platform_exit(&plat);
    return 0;
fail:
    ST_PRINTF("FAIL\r\n");
    selftest_platform_exit(&plat);
    return 1;
}
