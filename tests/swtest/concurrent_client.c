/* One C-driver user of a shared simulated device (tests/test_concurrency.py): N rounds of
 * "load weight set A or B (seeded choice), then nna_predict_f32 of X", recorded for the test.
 *
 *   concurrent_client SOCKET LOCK|- MODE N SEED A.bin B.bin X.f32 OUT
 *
 * MODE sequence: nna_lock .. nna_unlock around each round; ops: each call locks by itself.
 * LOCK "-": no lock file (the control). OUT gets, per round: int32 choice, int32 rc of the load,
 * int32 rc of the predict, then the float outputs. Prints "ready", then waits for OUT.go. Exit 0, or 2 on usage / setup errors. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hal_remote.h"
#include NNA_MODEL_HEADER

static void *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    void *b;
    long n;
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) exit(2);
    b = malloc((size_t)n + 1);
    if (b == NULL || fread(b, 1, (size_t)n, f) != (size_t)n) exit(2);
    fclose(f);
    *len = (size_t)n;
    return b;
}

int main(int argc, char **argv) {
    const nna_model_t *m = &NNA_MODEL;
    static nna_hal_t hal;
    nna_dev_t dev;
    nna_mem_t mem;
    size_t len[2], xlen;
    void *img[2];
    float *x, *y;
    uint32_t n_samples;
    int rounds, sequence, r;
    FILE *out;
    if (argc != 10) {
        fprintf(stderr, "usage: %s SOCKET LOCK|- sequence|ops N SEED A.bin B.bin X.f32 OUT\n", argv[0]);
        return 2;
    }
    sequence = strcmp(argv[3], "sequence") == 0;
    rounds = atoi(argv[4]);
    srand((unsigned)atoi(argv[5]));
    img[0] = slurp(argv[6], &len[0]);
    img[1] = slurp(argv[7], &len[1]);
    x = (float *)slurp(argv[8], &xlen);
    n_samples = (uint32_t)(xlen / (4u * m->n_inputs));
    y = (float *)malloc((size_t)n_samples * m->n_outputs * 4u);
    if (nna_hal_remote_open(&hal, argv[1], strcmp(argv[2], "-") == 0 ? NULL : argv[2]) != NNA_OK ||
        nna_hal_remote_mem(&hal, 1u << 16, &mem) != NNA_OK || y == NULL)
        return 2;
    if ((r = nna_init(&dev, m, &hal, NNA_REMOTE_ACCEL_BASE, m->interface == NNA_IF_AXI_STREAM ? NNA_REMOTE_DMA_BASE : 0,
                      &mem)) != NNA_OK) {
        fprintf(stderr, "nna_init: %s\n", nna_strerror(r));
        return 2;
    }
    nna_set_timeout(&dev, 2000000u);
    out = fopen(argv[9], "wb");
    if (out == NULL) return 2;
    printf("ready\n"); /* then wait for the test's start signal OUT.go, so both users overlap */
    fflush(stdout);
    {
        char go[4096];
        struct timespec pause = {0, 1000000};
        snprintf(go, sizeof go, "%s.go", argv[9]);
        while (access(go, F_OK) != 0) nanosleep(&pause, NULL);
    }
    while (rounds-- > 0) {
        int32_t rec[3];
        rec[0] = rand() % 2;
        memset(y, 0xFF, (size_t)n_samples * m->n_outputs * 4u); /* NaN unless the predict writes */
        if (sequence) nna_lock(&dev);
        rec[1] = nna_load_weights(&dev, img[rec[0]], len[rec[0]]);
        rec[2] = nna_predict_f32(&dev, x, y, n_samples);
        if (sequence) nna_unlock(&dev);
        if (fwrite(rec, 4, 3, out) != 3 || fwrite(y, 4, (size_t)n_samples * m->n_outputs, out) != (size_t)n_samples * m->n_outputs)
            return 2;
    }
    return fclose(out) == 0 ? 0 : 2;
}
