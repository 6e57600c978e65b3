/* nna_host: the C driver on the simulated device, driven from the command line.
 * Used by the tests (C driver == csim == hls4ml, reprogramming, faults) and by `make demo`.
 *
 *   nna_host CSIM_LIBRARY OP...
 *     load IMAGE            nna_load_weights (validates the image before any device access)
 *     load-bank BANK IMAGE  nna_load_weights_bank (IPs with weight banks)
 *     select-bank BANK      nna_select_bank
 *     switch-on-start N BANK  fault: once the Nth start from now has begun, ACTIVE_BANK := BANK
 *                           (another bus master writing it while a batch streams)
 *     work-bytes BYTES      use only BYTES of the DMA work memory (fewer samples per start)
 *     predict IN OUT        raw input words file -> raw output words file (n from IN's size)
 *     predict-f32 IN OUT    float32 in, float32 out (the driver encodes / decodes)
 *     predict-tensors-f32 IN OUT
 *                           predict-f32 through nna_predict_tensors_f32: IN's samples (each one's
 *                           tensors end to end) are split into one array per input tensor, the
 *                           output tensors' arrays joined the same way into OUT
 *     irq on|off            completion by interrupt / by polling
 *     timeout US            timeout of every wait
 *     dma-max BYTES         nna_set_dma_max_bytes (largest AXI DMA transfer, axi_stream)
 *     init-at ADDR          nna_init of a second handle at ADDR (nothing there: IDENT error)
 *     stall on|off          simulated core never finishes a start
 *     stall-dma on|off      simulated DMA never finishes a transfer
 *     force-error CODE      next start ends with LAST_ERROR = CODE
 *     lose-irq N            the next N completions never raise the interrupt (ap_done still set)
 *     dma-error CH BITS     the next transfer of channel CH (mm2s or s2mm) fails with DMASR BITS
 *     flip-weights BIT      when the next LOAD starts, flip bit BIT of the image in simulated DDR
 *                           (after the driver's check, before the core reads it)
 *     status                print STATUS, LAST_ERROR, SAMPLES_DONE and the driver's weights_loaded
 *     trace on|off          log register accesses of the simulated device
 *     show OUT              print the float outputs of a predict-f32 OUT file (demo)
 *     lock-file PATH        later operations hold an flock on PATH (nna_hal_sim_lock_file)
 * One line per operation: "<op> rc=<code> (<message>) writes=<register writes> starts=<starts>".
 * Exit status 0 when every operation returned NNA_OK, 1 otherwise, 2 on usage errors.
 * Built per IP: -DNNA_MODEL_HEADER='"<top>_model.h"' -DNNA_MODEL=<top>_model. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nna.h"
#include "nna_hal_sim.h"
#include NNA_MODEL_HEADER

#define WORK_BYTES (8u << 20)

static nna_hal_t hal;
static nna_dev_t dev;

static void *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    void *buf;
    long n;
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        if (f) fclose(f);
        fprintf(stderr, "nna_host: cannot read %s\n", path);
        exit(2);
    }
    buf = malloc((size_t)n + 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "nna_host: cannot read %s\n", path);
        exit(2);
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "nna_host: cannot write %s\n", path);
        exit(2);
    }
}

static int on_off(const char *v) {
    if (strcmp(v, "on") == 0) return 1;
    if (strcmp(v, "off") == 0) return 0;
    fprintf(stderr, "nna_host: expected on or off, got %s\n", v);
    exit(2);
}

static int predict(const char *in_path, const char *out_path, int f32) {
    const nna_model_t *m = &NNA_MODEL;
    size_t len, in_sample = m->n_inputs * (f32 ? 4u : m->in_word.bytes);
    size_t out_sample = m->n_outputs * (f32 ? 4u : m->out_word.bytes);
    void *in = read_file(in_path, &len), *out;
    uint32_t n;
    int rc;
    if (len % in_sample != 0) {
        fprintf(stderr, "nna_host: %s holds %lu bytes, not a whole number of %lu-byte samples\n", in_path,
                (unsigned long)len, (unsigned long)in_sample);
        exit(2);
    }
    n = (uint32_t)(len / in_sample);
    out = calloc(n ? n : 1, out_sample);
    rc = f32 ? nna_predict_f32(&dev, (const float *)in, (float *)out, n) : nna_predict(&dev, in, out, n);
    if (rc == NNA_OK) write_file(out_path, out, n * out_sample);
    free(in);
    free(out);
    return rc;
}

static uint32_t tensors(const nna_model_t *m, int out) {
    uint32_t n = out ? m->n_out_tensors : m->n_in_tensors;
    return n > 1 ? n : 1u;
}

static nna_tensor_t tensor(const nna_model_t *m, int out, uint32_t t) {
    nna_tensor_t one = {"", 0, 0, 0, 0};
    if (tensors(m, out) > 1) return (out ? m->out_tensors : m->in_tensors)[t];
    one.n_values = out ? m->n_outputs : m->n_inputs;
    return one;
}

static int predict_tensors(const char *in_path, const char *out_path) {
    const nna_model_t *m = &NNA_MODEL;
    size_t len, s;
    float *rows = (float *)read_file(in_path, &len), *y, *xs[NNA_MAX_TENSORS], *ys[NNA_MAX_TENSORS];
    uint32_t n, t;
    int rc;
    if (len % (m->n_inputs * 4u) != 0) {
        fprintf(stderr, "nna_host: %s is not a whole number of %u-value float32 samples\n", in_path, m->n_inputs);
        exit(2);
    }
    n = (uint32_t)(len / (m->n_inputs * 4u));
    for (t = 0; t < tensors(m, 0); t++) {
        nna_tensor_t ts = tensor(m, 0, t);
        xs[t] = (float *)malloc((n ? n : 1) * ts.n_values * 4u);
        for (s = 0; s < n; s++) memcpy(xs[t] + s * ts.n_values, rows + s * m->n_inputs + ts.offset, ts.n_values * 4u);
    }
    for (t = 0; t < tensors(m, 1); t++) ys[t] = (float *)calloc(n ? n : 1, tensor(m, 1, t).n_values * 4u);
    rc = nna_predict_tensors_f32(&dev, (const float *const *)xs, ys, n);
    y = (float *)calloc(n ? n : 1, m->n_outputs * 4u);
    for (t = 0; t < tensors(m, 1); t++) {
        nna_tensor_t ts = tensor(m, 1, t);
        for (s = 0; s < n; s++) memcpy(y + s * m->n_outputs + ts.offset, ys[t] + s * ts.n_values, ts.n_values * 4u);
        free(ys[t]);
    }
    for (t = 0; t < tensors(m, 0); t++) free(xs[t]);
    if (rc == NNA_OK) write_file(out_path, y, (size_t)n * m->n_outputs * 4u);
    free(rows);
    free(y);
    return rc;
}

static int show(const char *path) {
    size_t len, i;
    float *y = (float *)read_file(path, &len);
    for (i = 0; i < len / 4; i++)
        printf("%s%9.5f%s", i % NNA_MODEL.n_outputs ? " " : "  [", y[i],
               (i + 1) % NNA_MODEL.n_outputs ? "" : " ]\n");
    free(y);
    return NNA_OK;
}

int main(int argc, char **argv) {
    nna_mem_t mem;
    int i, rc, failed = 0;
    if (argc < 2) {
        fprintf(stderr, "usage: %s CSIM_LIBRARY [load IMAGE | predict IN OUT | predict-f32 IN OUT | predict-tensors-f32 IN OUT |"
                        " irq on|off |"
                        " timeout US | dma-max BYTES | init-at ADDR | stall on|off | stall-dma on|off |"
                        " force-error CODE | lose-irq N | dma-error mm2s|s2mm BITS | flip-weights BIT | status |"
                        " trace on|off | show OUT | load-bank BANK IMAGE | select-bank BANK |"
                        " switch-on-start N BANK | work-bytes BYTES | lock-file PATH]...\n",
                argv[0]);
        return 2;
    }
    if (nna_hal_sim_open(&hal, &NNA_MODEL, argv[1]) != NNA_OK) {
        fprintf(stderr, "nna_host: %s\n", nna_sim_create_error());
        return 2;
    }
    if (nna_hal_sim_mem(&hal, WORK_BYTES, &mem) != NNA_OK) return 2;
    rc = nna_init(&dev, &NNA_MODEL, &hal, NNA_SIM_ACCEL_BASE,
                  NNA_MODEL.interface == NNA_IF_AXI_STREAM ? NNA_SIM_DMA_BASE : 0, &mem);
    printf("init rc=%d (%s) %s %s\n", rc, nna_strerror(rc), NNA_MODEL.top, NNA_MODEL.vlnv);
    if (rc != NNA_OK) return 1;
    for (i = 2; i < argc;) {
        const char *op = argv[i++];
        uint64_t w0 = nna_sim_counter(hal.sim, NNA_SIM_REG_WRITES), s0 = nna_sim_counter(hal.sim, NNA_SIM_STARTS);
        int need = (strcmp(op, "predict") == 0 || strcmp(op, "predict-f32") == 0 || strcmp(op, "dma-error") == 0 ||
                    strcmp(op, "load-bank") == 0 || strcmp(op, "switch-on-start") == 0 ||
                    strcmp(op, "predict-tensors-f32") == 0) ? 2
                   : strcmp(op, "status") == 0                                      ? 0
                                                                                    : 1;
        char extra[160] = "";
        if (i + need > argc) {
            fprintf(stderr, "nna_host: %s needs %d argument(s)\n", op, need);
            return 2;
        }
        if (strcmp(op, "load") == 0) {
            size_t len;
            void *img = read_file(argv[i], &len);
            rc = nna_load_weights(&dev, img, len);
            free(img);
        } else if (strcmp(op, "load-bank") == 0) {
            size_t len;
            void *img = read_file(argv[i + 1], &len);
            rc = nna_load_weights_bank(&dev, img, len, (uint32_t)strtoul(argv[i], NULL, 0));
            free(img);
        } else if (strcmp(op, "work-bytes") == 0) {
            size_t n = (size_t)strtoull(argv[i], NULL, 0);
            rc = n <= WORK_BYTES ? NNA_OK : NNA_ERR_ARG;
            if (rc == NNA_OK) dev.mem.size = n;
        } else if (strcmp(op, "select-bank") == 0) {
            rc = nna_select_bank(&dev, (uint32_t)strtoul(argv[i], NULL, 0));
        } else if (strcmp(op, "switch-on-start") == 0) {
            nna_sim_fault_write_on_start(hal.sim, (uint32_t)strtoul(argv[i], NULL, 0), NNA_MODEL.regs.active_bank,
                                         (uint32_t)strtoul(argv[i + 1], NULL, 0));
            rc = NNA_MODEL.weight_banks > 1 ? NNA_OK : NNA_ERR_BANK;
        } else if (strcmp(op, "predict") == 0 || strcmp(op, "predict-f32") == 0) {
            rc = predict(argv[i], argv[i + 1], op[7] == '-');
        } else if (strcmp(op, "predict-tensors-f32") == 0) {
            rc = predict_tensors(argv[i], argv[i + 1]);
        } else if (strcmp(op, "irq") == 0) {
            rc = nna_enable_irq(&dev, on_off(argv[i]));
        } else if (strcmp(op, "timeout") == 0) {
            nna_set_timeout(&dev, (uint32_t)strtoul(argv[i], NULL, 0));
            rc = NNA_OK;
        } else if (strcmp(op, "dma-max") == 0) {
            rc = nna_set_dma_max_bytes(&dev, (uint32_t)strtoul(argv[i], NULL, 0));
        } else if (strcmp(op, "init-at") == 0) {
            static nna_dev_t other;
            rc = nna_init(&other, &NNA_MODEL, &hal, (uintptr_t)strtoull(argv[i], NULL, 0),
                          NNA_MODEL.interface == NNA_IF_AXI_STREAM ? NNA_SIM_DMA_BASE : 0, NULL);
        } else if (strcmp(op, "stall") == 0) {
            nna_sim_fault_stall(hal.sim, on_off(argv[i]));
            rc = NNA_OK;
        } else if (strcmp(op, "stall-dma") == 0) {
            nna_sim_fault_stall_dma(hal.sim, on_off(argv[i]));
            rc = NNA_OK;
        } else if (strcmp(op, "force-error") == 0) {
            nna_sim_fault_force_error(hal.sim, (uint32_t)strtoul(argv[i], NULL, 0));
            rc = NNA_OK;
        } else if (strcmp(op, "lose-irq") == 0) {
            nna_sim_fault_lose_irq(hal.sim, (uint32_t)strtoul(argv[i], NULL, 0));
            rc = NNA_OK;
        } else if (strcmp(op, "dma-error") == 0) {
            if (strcmp(argv[i], "mm2s") != 0 && strcmp(argv[i], "s2mm") != 0) {
                fprintf(stderr, "nna_host: dma-error takes mm2s or s2mm, got %s\n", argv[i]);
                return 2;
            }
            nna_sim_fault_dma_error(hal.sim, strcmp(argv[i], "s2mm") == 0, (uint32_t)strtoul(argv[i + 1], NULL, 0));
            rc = NNA_OK;
        } else if (strcmp(op, "flip-weights") == 0) {
            nna_sim_fault_flip_weights_on_load(hal.sim, strtoull(argv[i], NULL, 0));
            rc = NNA_OK;
        } else if (strcmp(op, "status") == 0) {
            uint32_t st = 0, le = 0, sd = 0;
            rc = nna_read_status(&dev, &st, &le, &sd);
            snprintf(extra, sizeof extra, " status=0x%x last_error=%u samples_done=%u weights_loaded=%u",
                     (unsigned)st, (unsigned)le, (unsigned)sd, (unsigned)dev.weights_loaded);
            if (NNA_MODEL.weight_banks > 1)
                snprintf(extra + strlen(extra), sizeof extra - strlen(extra), " banks_valid=0x%x active_bank=%u",
                         (unsigned)dev.banks_valid, (unsigned)dev.active_bank);
        } else if (strcmp(op, "trace") == 0) {
            nna_sim_set_trace(hal.sim, on_off(argv[i]));
            rc = NNA_OK;
        } else if (strcmp(op, "show") == 0) {
            rc = show(argv[i]);
        } else if (strcmp(op, "lock-file") == 0) {
            rc = nna_hal_sim_lock_file(&hal, argv[i]);
        } else {
            fprintf(stderr, "nna_host: unknown operation %s\n", op);
            return 2;
        }
        printf("%s rc=%d (%s) writes=%llu starts=%llu", op, rc, nna_strerror(rc),
               (unsigned long long)(nna_sim_counter(hal.sim, NNA_SIM_REG_WRITES) - w0),
               (unsigned long long)(nna_sim_counter(hal.sim, NNA_SIM_STARTS) - s0));
        printf("%s", extra);
        if (rc == NNA_ERR_DEVICE || rc == NNA_ERR_DEVICE_CRC)
            printf(" device_error=%u (%s)", (unsigned)dev.last_device_error,
                   nna_device_error_name(&NNA_MODEL, dev.last_device_error));
        if (rc == NNA_ERR_DMA) printf(" dmasr=0x%x", (unsigned)dev.last_dma_status);
        printf("\n");
        if (rc != NNA_OK) failed = 1;
        i += need;
    }
    nna_hal_sim_close(&hal);
    return failed;
}
