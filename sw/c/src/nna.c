/* nn_accel driver: identity check, weight loading, batched inference, on any HAL backend.
 * Every wait is bounded by dev->timeout_us; nothing here allocates memory. */
#include <string.h>

#include "nna.h"
#include "nna_axidma.h"

#define ALIGN 64u /* work-memory regions start on a cache line (and any bus word up to 512 bits) */
#define LITE_CHUNK 256u

static uint32_t tensor_count(const nna_model_t *m, int out);
static int multi_tensor(const nna_model_t *m);
static int predict_rows(nna_dev_t *d, const void *in, int in_f32, void *out, int out_f32, uint32_t n);

static const char *const status_names[NNA_ERR__COUNT] = {
    "ok",
    "invalid argument (NULL pointer, zero size or value out of range)",
    "no nn_accel register map at this address (IDENT mismatch)",
    "the IP was built for another weight layout than this model header (fingerprint mismatch)",
    "weight image is shorter than its header or declared payload",
    "weight image has no NNAW magic",
    "weight image format version is not supported (or its reserved word is not 0)",
    "weight image is for another layout (fingerprint mismatch)",
    "weight image encoding is neither native nor float32",
    "weight image bus width differs from the IP's weights port",
    "weight image lengths disagree with the IP's layout (header fields or file length)",
    "weight image payload fails its CRC-32",
    "the IP has embedded weights and cannot load an image",
    "no weights loaded: call nna_load_weights first",
    "the core is not idle (a previous start never finished)",
    "timeout: the core or the DMA did not finish",
    "the core reported an error (see last_device_error)",
    "the AXI DMA reported an error (see last_dma_status)",
    "buffer is not in DMA-able memory",
    "the DMA work memory is too small",
    "the core processed fewer samples than requested",
    "hardware access layer failure",
    "the core read a weight payload that fails its CRC-32, changed in memory after the host check: "
    "the core has no valid weights now, load again",
    "no such weight bank, or the bank holds no valid weights",
};

const char *nna_strerror(int status) {
    if (status < 0 || status >= NNA_ERR__COUNT) return "unknown nna status";
    return status_names[status];
}

const char *nna_device_error_name(const nna_model_t *m, uint32_t code) {
    if (m == NULL || code >= m->n_device_errors || m->device_errors[code] == NULL) return "UNKNOWN";
    return m->device_errors[code];
}

/* ---- register helpers ---- */
static uint32_t rd(nna_dev_t *d, uint32_t off) { return nna_hal_read32(d->hal, d->base, off); }
static void wr(nna_dev_t *d, uint32_t off, uint32_t v) { nna_hal_write32(d->hal, d->base, off, v); }
static void wr64(nna_dev_t *d, uint32_t off, uint64_t v) {
    wr(d, off, (uint32_t)v);
    wr(d, off + 4u, (uint32_t)(v >> 32));
}
static uint32_t drd(nna_dev_t *d, uint32_t off) { return nna_hal_read32(d->hal, d->dma_base, off); }
static void dwr(nna_dev_t *d, uint32_t off, uint32_t v) { nna_hal_write32(d->hal, d->dma_base, off, v); }

static uint32_t n_banks(const nna_model_t *m) { return m->weight_banks > 1 ? m->weight_banks : 1u; }

static size_t align_up(size_t v) { return (v + ALIGN - 1u) & ~(size_t)(ALIGN - 1u); }
static uint64_t elapsed(nna_dev_t *d, uint64_t t0) { return nna_hal_time_us(d->hal) - t0; }

/* ---- AXI DMA (axi_stream) ---- */
static int dma_reset(nna_dev_t *d) {
    uint64_t t0 = nna_hal_time_us(d->hal);
    dwr(d, NNA_DMA_MM2S_DMACR, NNA_DMACR_RESET); /* resets both channels */
    while (drd(d, NNA_DMA_MM2S_DMACR) & NNA_DMACR_RESET) {
        if (elapsed(d, t0) > d->timeout_us) return NNA_ERR_TIMEOUT;
        nna_hal_relax(d->hal);
    }
    dwr(d, NNA_DMA_MM2S_DMACR, NNA_DMACR_RS);
    dwr(d, NNA_DMA_S2MM_DMACR, NNA_DMACR_RS);
    if ((drd(d, NNA_DMA_MM2S_DMASR) | drd(d, NNA_DMA_S2MM_DMASR)) & NNA_DMASR_HALTED) return NNA_ERR_DMA;
    return NNA_OK;
}

static int dma_wait(nna_dev_t *d, uint32_t sr_off, uint64_t t0) {
    for (;;) {
        uint32_t sr = drd(d, sr_off);
        if (sr & NNA_DMASR_ERR_MASK) {
            d->last_dma_status = sr;
            return NNA_ERR_DMA;
        }
        if (sr & NNA_DMASR_IDLE) {
            dwr(d, sr_off, NNA_DMASR_IOC_IRQ); /* write-1-to-clear */
            return NNA_OK;
        }
        if (elapsed(d, t0) > d->timeout_us) {
            d->last_dma_status = sr;
            return NNA_ERR_TIMEOUT;
        }
        nna_hal_relax(d->hal);
    }
}

/* ---- one start of the core ---- */
#define NNA_IRQ_SLICE_US 10000u /* longest single wait for the interrupt before the DMA status is looked at */
static int wait_done(nna_dev_t *d, uint64_t t0) {
    const nna_regmap_t *r = &d->model->regs;
    for (;;) {
        uint64_t spent = elapsed(d, t0);
        if (spent > d->timeout_us) return NNA_ERR_TIMEOUT;
        if (d->use_irq) {
            /* wait in slices, so a DMA error (which starves the core: no interrupt) is seen early */
            uint32_t left = d->timeout_us - (uint32_t)spent;
            int got = nna_hal_wait_irq(d->hal, left < NNA_IRQ_SLICE_US ? left : NNA_IRQ_SLICE_US);
            if (got < 0) return NNA_ERR_HAL;
            if (got > 0) {
                /* a bare-metal handler may have acknowledged ISR already: ap_done in CTRL confirms */
                uint32_t isr = rd(d, r->isr);
                if (isr & NNA_IRQ_AP_DONE) wr(d, r->isr, NNA_IRQ_AP_DONE); /* toggle-on-write: clears it */
                if ((rd(d, r->ctrl) & NNA_CTRL_AP_DONE) || (isr & NNA_IRQ_AP_DONE)) return NNA_OK;
            }
        } else {
            if (rd(d, r->ctrl) & NNA_CTRL_AP_DONE) return NNA_OK;
            nna_hal_relax(d->hal);
        }
        if (d->model->interface == NNA_IF_AXI_STREAM && d->dma_base) {
            /* a failed DMA starves the core: report the DMA instead of a timeout */
            uint32_t sr = drd(d, NNA_DMA_MM2S_DMASR) | drd(d, NNA_DMA_S2MM_DMASR);
            if (sr & NNA_DMASR_ERR_MASK) {
                d->last_dma_status = sr;
                return NNA_ERR_DMA;
            }
        }
    }
}

static int wait_idle(nna_dev_t *d) {
    const nna_regmap_t *r = &d->model->regs;
    uint64_t t_wait = nna_hal_time_us(d->hal);
    uint32_t ctrl;
    /* a previous start that timed out may still finish: wait for idle, bounded like every wait */
    while (ctrl = rd(d, r->ctrl), !(ctrl & NNA_CTRL_AP_IDLE) || (ctrl & NNA_CTRL_AP_START)) {
        if (elapsed(d, t_wait) > d->timeout_us) return NNA_ERR_BUSY;
        nna_hal_relax(d->hal);
    }
    return NNA_OK;
}

static int kick(nna_dev_t *d, uint32_t command, uint32_t n_samples, uint64_t *t0) {
    const nna_regmap_t *r = &d->model->regs;
    int rc = wait_idle(d);
    if (rc != NNA_OK) return rc;
    /* an interrupt left pending by an earlier start (one that timed out, then finished) must not
     * pass for this start's completion */
    if (d->use_irq && (rd(d, r->isr) & NNA_IRQ_AP_DONE)) wr(d, r->isr, NNA_IRQ_AP_DONE);
    /* sampled at ap_start: every start of a batch names the bank the batch began with */
    if (n_banks(d->model) > 1) wr(d, r->active_bank, d->run_bank);
    wr(d, r->command, command);
    wr(d, r->n_samples, n_samples);
    *t0 = nna_hal_time_us(d->hal);
    wr(d, r->ctrl, NNA_CTRL_AP_START);
    return NNA_OK;
}

static int finish(nna_dev_t *d, uint64_t t0) {
    const nna_model_t *m = d->model;
    int rc = wait_done(d, t0);
    d->last_start_us = elapsed(d, t0);
    if (rc != NNA_OK) return rc;
    d->last_device_error = rd(d, m->regs.last_error);
    if (d->last_device_error == 0) return NNA_OK;
    /* Both codes mean the core holds no valid weights (a BAD_CRC load overwrote them before the
     * check could fail): say so here, whatever the caller assumed, so no RUN is sent until a
     * load succeeds. */
    if (d->last_device_error == m->err_bad_crc) {
        d->weights_loaded = 0;
        return NNA_ERR_DEVICE_CRC;
    }
    if (d->last_device_error == m->err_no_weights) {
        d->weights_loaded = 0;
        return NNA_ERR_NO_WEIGHTS;
    }
    return NNA_ERR_DEVICE;
}

static int start_and_wait(nna_dev_t *d, uint32_t command, uint32_t n_samples) {
    uint64_t t0;
    int rc = kick(d, command, n_samples, &t0);
    return rc != NNA_OK ? rc : finish(d, t0);
}

/* ---- public API ---- */
void nna_set_timeout(nna_dev_t *dev, uint32_t timeout_us) {
    if (dev) dev->timeout_us = timeout_us ? timeout_us : NNA_DEFAULT_TIMEOUT_US;
}

int nna_set_dma_max_bytes(nna_dev_t *dev, uint32_t max_bytes) {
    if (dev == NULL) return NNA_ERR_ARG;
    dev->dma_max_bytes = max_bytes ? max_bytes : NNA_DEFAULT_DMA_MAX_BYTES;
    return NNA_OK;
}

static int init(nna_dev_t *dev, const nna_model_t *model, nna_hal_t *hal, uintptr_t base, uintptr_t dma_base,
                const nna_mem_t *mem) {
    uint32_t status, ctrl;
    int rc;
    if (dev == NULL || model == NULL) return NNA_ERR_ARG;
    memset(dev, 0, sizeof *dev);
    dev->model = model;
    dev->hal = hal;
    dev->base = base;
    dev->dma_base = dma_base;
    dev->timeout_us = NNA_DEFAULT_TIMEOUT_US;
    dev->dma_max_bytes = NNA_DEFAULT_DMA_MAX_BYTES;
    if (mem) {
        if (mem->size && (mem->cpu == NULL || mem->bus % ALIGN != 0 || (uintptr_t)mem->cpu % ALIGN != 0))
            return NNA_ERR_ARG; /* work memory must start on a 64-byte boundary */
        dev->mem = *mem;
    }
    if (model->interface == NNA_IF_AXI_STREAM && dma_base == 0) return NNA_ERR_ARG;
    /* Nothing behind `base` reads as all zeros or all ones. A Vitis HLS core reads ap_idle (or
     * ap_start while busy) and never all ones; CTRL == 0 with IDENT not ours is no nn_accel
     * either (a core of ours that ran before keeps IDENT). Say so before writing anything,
     * rather than waiting for an idle bit that never comes and reporting BUSY. */
    ctrl = rd(dev, model->regs.ctrl);
    if (ctrl == 0xFFFFFFFFu || (ctrl == 0u && rd(dev, model->regs.ident) != model->ident)) return NNA_ERR_IDENT;
    if (model->interface == NNA_IF_AXI_STREAM && (rc = dma_reset(dev)) != NNA_OK) return rc;

    /* The read-back registers are written at the end of a start: probe with COMMAND 0,
     * which the core answers with BAD_COMMAND and no other effect. */
    rc = start_and_wait(dev, 0u, 0u);
    if (rc != NNA_OK && rc != NNA_ERR_DEVICE) return rc;
    if (rd(dev, model->regs.ident) != model->ident) return NNA_ERR_IDENT;
    if (rd(dev, model->regs.fingerprint) != model->fingerprint) return NNA_ERR_FINGERPRINT;
    status = rd(dev, model->regs.status);
    /* an IP that disagrees with the header on external/embedded weights was built differently */
    if (!!(status & model->status_weights_external) != !!model->external_weights) return NNA_ERR_FINGERPRINT;
    dev->weights_loaded = (status & model->status_weights_valid) != 0;
    if (n_banks(model) > 1) dev->banks_valid = rd(dev, model->regs.banks_valid);
    dev->last_device_error = 0;
    return NNA_OK;
}

static int enable_irq(nna_dev_t *dev, int enable) {
    const nna_regmap_t *r;
    if (dev == NULL || dev->model == NULL) return NNA_ERR_ARG;
    r = &dev->model->regs;
    {
        /* drop anything pending from before first: with GIE set, a stale ISR bit would raise the
         * line at once and the next wait would take it for this start's ap_done */
        uint32_t isr = rd(dev, r->isr);
        if (isr) wr(dev, r->isr, isr); /* toggle-on-write: writing the bits read clears them */
    }
    wr(dev, r->ier, enable ? NNA_IRQ_AP_DONE : 0u);
    wr(dev, r->gie, enable ? 1u : 0u);
    dev->use_irq = enable ? 1u : 0u;
    return NNA_OK;
}

static int read_status(nna_dev_t *dev, uint32_t *status, uint32_t *last_error, uint32_t *samples_done) {
    if (dev == NULL || dev->model == NULL) return NNA_ERR_ARG;
    if (status) *status = rd(dev, dev->model->regs.status);
    if (last_error) *last_error = rd(dev, dev->model->regs.last_error);
    if (samples_done) *samples_done = rd(dev, dev->model->regs.samples_done);
    return NNA_OK;
}

static int load_weights(nna_dev_t *dev, const void *image, size_t len);

static int load_weights_bank(nna_dev_t *dev, const void *image, size_t len, uint32_t bank);

/* nna_load_weights without the lock: into the active bank of an IP with weight banks */
static int load_weights_active(nna_dev_t *dev, const void *image, size_t len) {
    if (dev == NULL || dev->model == NULL) return NNA_ERR_ARG;
    if (n_banks(dev->model) > 1) return load_weights_bank(dev, image, len, dev->active_bank);
    return load_weights(dev, image, len);
}

static int load_weights_bank(nna_dev_t *dev, const void *image, size_t len, uint32_t bank) {
    const nna_model_t *m;
    int rc;
    if (dev == NULL || dev->model == NULL) return NNA_ERR_ARG;
    m = dev->model;
    if (bank >= n_banks(m)) return NNA_ERR_BANK;
    if (n_banks(m) == 1) return load_weights(dev, image, len);
    rc = nna_check_image(m, image, len); /* before the first device access, like nna_load_weights */
    if (rc != NNA_OK) return rc;
    wr(dev, m->regs.load_bank, bank);
    dev->run_bank = dev->active_bank;
    rc = load_weights(dev, image, len);
    /* STATUS speaks of the active bank: the bank's own bit says what this load left */
    if (rc == NNA_OK || rc == NNA_ERR_DEVICE || rc == NNA_ERR_DEVICE_CRC)
        dev->banks_valid = rd(dev, m->regs.banks_valid);
    else /* timeout / busy: the load may have been half done, whatever BANKS_VALID said before */
        dev->banks_valid &= ~(1u << bank);
    dev->weights_loaded = (dev->banks_valid >> dev->active_bank) & 1u;
    if (rc == NNA_ERR_DEVICE && dev->last_device_error == 0) /* load_weights judged by STATUS */
        rc = (dev->banks_valid >> bank) & 1u ? NNA_OK : NNA_ERR_DEVICE;
    return rc;
}

static int select_bank(nna_dev_t *dev, uint32_t bank) {
    const nna_model_t *m;
    if (dev == NULL || dev->model == NULL) return NNA_ERR_ARG;
    m = dev->model;
    if (bank >= n_banks(m)) return NNA_ERR_BANK;
    if (n_banks(m) == 1) return dev->weights_loaded || !m->external_weights ? NNA_OK : NNA_ERR_BANK;
    dev->banks_valid = rd(dev, m->regs.banks_valid);
    if (!((dev->banks_valid >> bank) & 1u)) return NNA_ERR_BANK;
    dev->active_bank = bank;
    wr(dev, m->regs.active_bank, bank);
    dev->weights_loaded = 1;
    return NNA_OK;
}

static int load_weights(nna_dev_t *dev, const void *image, size_t len) {
    const nna_model_t *m;
    uint64_t bus = 0;
    size_t total;
    int rc;
    if (dev == NULL || dev->model == NULL) return NNA_ERR_ARG;
    m = dev->model;
    /* everything about the image is checked before the first device access */
    rc = nna_check_image(m, image, len);
    if (rc != NNA_OK) return rc;
    total = NNA_IMAGE_HEADER_BYTES + m->image_payload_bytes[((const uint8_t *)image)[6]];
    if (nna_hal_bus_addr(dev->hal, image, total, &bus) && bus % (m->bus_width / 8u) == 0) {
        nna_hal_flush(dev->hal, image, total);
    } else {
        if (dev->mem.cpu == NULL || dev->mem.size < total) return NNA_ERR_MEM_SMALL;
        memcpy(dev->mem.cpu, image, total);
        nna_hal_flush(dev->hal, dev->mem.cpu, total);
        bus = dev->mem.bus;
    }
    wr64(dev, m->regs.weights_addr, bus);
    rc = start_and_wait(dev, m->cmd_load_weights, 0u);
    if (rc == NNA_ERR_DEVICE) {
        /* the core refused the image (header checks): it keeps the weights it had, and STATUS
         * of this start says whether those are valid */
        dev->weights_loaded = (rd(dev, m->regs.status) & m->status_weights_valid) != 0;
        return rc;
    }
    if (rc == NNA_ERR_DEVICE_CRC) return rc; /* finish() cleared weights_loaded: fail closed */
    if (rc != NNA_OK) {
        dev->weights_loaded = 0; /* timeout / busy: the load may have been half done */
        return rc;
    }
    dev->weights_loaded = (rd(dev, m->regs.status) & m->status_weights_valid) != 0;
    return dev->weights_loaded ? NNA_OK : NNA_ERR_DEVICE;
}

static void in_copy(const nna_model_t *m, void *dst, const uint8_t *src, size_t values, int f32) {
    if (f32)
        nna_encode_words(&m->in_word, (const float *)(const void *)src, dst, values);
    else
        memcpy(dst, src, values * m->in_word.bytes);
}

static void out_copy(const nna_model_t *m, uint8_t *dst, const void *src, size_t values, int f32) {
    if (f32)
        nna_decode_words(&m->out_word, src, (float *)(void *)dst, values);
    else
        memcpy(dst, src, values * m->out_word.bytes);
}

static int check_samples(nna_dev_t *d, uint32_t n) {
    return rd(d, d->model->regs.samples_done) == n ? NNA_OK : NNA_ERR_SAMPLES;
}

/* axi_lite: packed words through the register-mapped buffers, LITE_CHUNK bytes at a time
 * (a whole number of 32-bit registers for 1-, 2- and 4-byte words). */
static int run_lite(nna_dev_t *d, const uint8_t *in, int in_f32, uint8_t *out, int out_f32, uint32_t n) {
    const nna_model_t *m = d->model;
    uint8_t tmp[LITE_CHUNK];
    size_t nv = (size_t)n * m->n_inputs, per = LITE_CHUNK / m->in_word.bytes, v, b;
    uint32_t reg = m->regs.in_buf;
    int rc;
    for (v = 0; v < nv; v += per) {
        size_t k = nv - v < per ? nv - v : per, nb = k * m->in_word.bytes;
        in_copy(m, tmp, in + v * (in_f32 ? 4u : m->in_word.bytes), k, in_f32);
        memset(tmp + nb, 0, (4u - nb % 4u) % 4u);
        for (b = 0; b < nb; b += 4, reg += 4)
            wr(d, reg, (uint32_t)tmp[b] | (uint32_t)tmp[b + 1] << 8 | (uint32_t)tmp[b + 2] << 16 |
                           (uint32_t)tmp[b + 3] << 24);
    }
    rc = start_and_wait(d, m->cmd_run, n);
    if (rc == NNA_OK) rc = check_samples(d, n);
    if (rc != NNA_OK) return rc;
    nv = (size_t)n * m->n_outputs;
    per = LITE_CHUNK / m->out_word.bytes;
    reg = m->regs.out_buf;
    for (v = 0; v < nv; v += per) {
        size_t k = nv - v < per ? nv - v : per, nb = k * m->out_word.bytes;
        for (b = 0; b < nb; b += 4, reg += 4) {
            uint32_t w = rd(d, reg);
            tmp[b] = (uint8_t)w;
            tmp[b + 1] = (uint8_t)(w >> 8);
            tmp[b + 2] = (uint8_t)(w >> 16);
            tmp[b + 3] = (uint8_t)(w >> 24);
        }
        out_copy(m, out + v * (out_f32 ? 4u : m->out_word.bytes), tmp, k, out_f32);
    }
    return NNA_OK;
}

static int stream_transfer(nna_dev_t *d, size_t in_sz, size_t out_off, size_t out_sz, uint32_t n);

/* axi_master / axi_stream: stage through the work memory, the device reads and writes DDR. */
static int run_dma(nna_dev_t *d, const uint8_t *in, int in_f32, uint8_t *out, int out_f32, uint32_t n) {
    const nna_model_t *m = d->model;
    size_t in_sz = (size_t)n * m->n_inputs * m->in_word.bytes;
    size_t out_off = align_up(in_sz), out_sz = (size_t)n * m->n_outputs * m->out_word.bytes;
    uint8_t *cpu_in = (uint8_t *)d->mem.cpu, *cpu_out = cpu_in + out_off;
    int rc;
    in_copy(m, cpu_in, in, (size_t)n * m->n_inputs, in_f32);
    nna_hal_flush(d->hal, cpu_in, in_sz);
    nna_hal_flush(d->hal, cpu_out, out_sz); /* no dirty line may land on top of the device's writes */
    if (m->interface == NNA_IF_AXI_MASTER) {
        wr64(d, m->regs.in_addr, d->mem.bus);
        wr64(d, m->regs.out_addr, d->mem.bus + out_off);
        rc = start_and_wait(d, m->cmd_run, n);
    } else {
        rc = stream_transfer(d, in_sz, out_off, out_sz, n);
    }
    if (rc == NNA_OK) rc = check_samples(d, n);
    if (rc != NNA_OK) return rc;
    nna_hal_invalidate(d->hal, cpu_out, out_sz);
    out_copy(m, out, cpu_out, (size_t)n * m->n_outputs, out_f32);
    return NNA_OK;
}

/* axi_stream: the DMA sends in_sz bytes from the start of the work memory and receives out_sz
 * bytes at out_off, around one RUN of n samples. */
static int stream_transfer(nna_dev_t *d, size_t in_sz, size_t out_off, size_t out_sz, uint32_t n) {
    const nna_model_t *m = d->model;
    uint64_t t0;
    int rc;
    {
        uint64_t da = d->mem.bus + out_off, sa = d->mem.bus;
        /* A start still waiting for its input would take this call's samples (and this start the
         * next call's): nothing goes on the streams until the core is idle. */
        if ((rc = wait_idle(d)) != NNA_OK) return rc;
        /* receive side first, so the core never blocks on a full output stream */
        dwr(d, NNA_DMA_S2MM_DA, (uint32_t)da);
        if (da >> 32) dwr(d, NNA_DMA_S2MM_DA_MSB, (uint32_t)(da >> 32));
        dwr(d, NNA_DMA_S2MM_LENGTH, (uint32_t)out_sz);
        dwr(d, NNA_DMA_MM2S_SA, (uint32_t)sa);
        if (sa >> 32) dwr(d, NNA_DMA_MM2S_SA_MSB, (uint32_t)(sa >> 32));
        dwr(d, NNA_DMA_MM2S_LENGTH, (uint32_t)in_sz);
        rc = kick(d, m->cmd_run, n, &t0);
        if (rc == NNA_OK) rc = finish(d, t0);
        if (rc == NNA_OK) rc = dma_wait(d, NNA_DMA_S2MM_DMASR, t0);
        if (rc == NNA_OK) rc = dma_wait(d, NNA_DMA_MM2S_DMASR, t0);
        /* a channel with an error is halted: reset it for the next call. After a timeout the
         * transfer stays programmed, so a late core or DMA completes this start into this call's
         * buffers and the next call finds the core idle. */
        if (rc == NNA_ERR_DMA) (void)dma_reset(d);
    }
    return rc;
}

static uint32_t samples_per_start(nna_dev_t *d) {
    const nna_model_t *m = d->model;
    size_t in_s = (size_t)m->n_inputs * m->in_word.bytes, out_s = (size_t)m->n_outputs * m->out_word.bytes;
    size_t cap;
    /* axi_master with several tensors: every tensor's block starts on an ALIGN boundary */
    const size_t slack = m->interface == NNA_IF_AXI_MASTER && multi_tensor(m)
                             ? (size_t)ALIGN * (tensor_count(m, 0) + tensor_count(m, 1)) : 0u;
    if (m->interface == NNA_IF_AXI_LITE) return m->lite_max_batch;
    if (d->mem.size < 2u * ALIGN + slack) return 0;
    cap = (d->mem.size - ALIGN - slack) / (in_s + out_s); /* ALIGN: room for the output region's alignment */
    if (m->interface == NNA_IF_AXI_STREAM) {
        if (cap > d->dma_max_bytes / in_s) cap = d->dma_max_bytes / in_s;
        if (cap > d->dma_max_bytes / out_s) cap = d->dma_max_bytes / out_s;
    }
    return cap > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)cap;
}

static int predict(nna_dev_t *d, const void *in, int in_f32, void *out, int out_f32, uint32_t n) {
    const nna_model_t *m;
    size_t in_stride, out_stride;
    uint32_t cap, done = 0;
    if (d == NULL || d->model == NULL || (n && (in == NULL || out == NULL))) return NNA_ERR_ARG;
    m = d->model;
    if (multi_tensor(m) && m->interface != NNA_IF_AXI_STREAM) /* one buffer / window per tensor */
        return predict_rows(d, in, in_f32, out, out_f32, n);
    if (m->external_weights && !d->weights_loaded) return NNA_ERR_NO_WEIGHTS;
    d->run_bank = d->active_bank; /* the whole batch runs on this bank */
    cap = samples_per_start(d);
    if (n && cap == 0) return NNA_ERR_MEM_SMALL;
    in_stride = (size_t)m->n_inputs * (in_f32 ? 4u : m->in_word.bytes);
    out_stride = (size_t)m->n_outputs * (out_f32 ? 4u : m->out_word.bytes);
    while (done < n) {
        uint32_t k = n - done < cap ? n - done : cap;
        const uint8_t *src = (const uint8_t *)in + (size_t)done * in_stride;
        uint8_t *dst = (uint8_t *)out + (size_t)done * out_stride;
        int rc = m->interface == NNA_IF_AXI_LITE ? run_lite(d, src, in_f32, dst, out_f32, k)
                                                 : run_dma(d, src, in_f32, dst, out_f32, k);
        if (rc != NNA_OK) return rc;
        done += k;
    }
    return NNA_OK;
}

/* ---- one user at a time: every public operation holds the HAL's lock ---- */
int nna_lock(nna_dev_t *dev) {
    if (dev == NULL) return NNA_ERR_ARG;
    return nna_hal_lock(dev->hal) == 0 ? NNA_OK : NNA_ERR_HAL;
}

void nna_unlock(nna_dev_t *dev) {
    if (dev) nna_hal_unlock(dev->hal);
}

int nna_init(nna_dev_t *dev, const nna_model_t *model, nna_hal_t *hal, uintptr_t base, uintptr_t dma_base,
             const nna_mem_t *mem) {
    int rc;
    if (dev == NULL) return NNA_ERR_ARG;
    if (nna_hal_lock(hal) != 0) return NNA_ERR_HAL;
    rc = init(dev, model, hal, base, dma_base, mem);
    nna_hal_unlock(hal);
    return rc;
}

int nna_enable_irq(nna_dev_t *dev, int enable) {
    int rc = nna_lock(dev);
    if (rc != NNA_OK) return rc;
    rc = enable_irq(dev, enable);
    nna_unlock(dev);
    return rc;
}

int nna_read_status(nna_dev_t *dev, uint32_t *status, uint32_t *last_error, uint32_t *samples_done) {
    int rc = nna_lock(dev);
    if (rc != NNA_OK) return rc;
    rc = read_status(dev, status, last_error, samples_done);
    nna_unlock(dev);
    return rc;
}

int nna_load_weights(nna_dev_t *dev, const void *image, size_t len) {
    int rc = nna_lock(dev);
    if (rc != NNA_OK) return rc;
    rc = load_weights_active(dev, image, len);
    nna_unlock(dev);
    return rc;
}

int nna_load_weights_bank(nna_dev_t *dev, const void *image, size_t len, uint32_t bank) {
    int rc = nna_lock(dev);
    if (rc != NNA_OK) return rc;
    rc = load_weights_bank(dev, image, len, bank);
    nna_unlock(dev);
    return rc;
}

int nna_select_bank(nna_dev_t *dev, uint32_t bank) {
    int rc = nna_lock(dev);
    if (rc != NNA_OK) return rc;
    rc = select_bank(dev, bank);
    nna_unlock(dev);
    return rc;
}

static int locked_predict(nna_dev_t *d, const void *in, int in_f32, void *out, int out_f32, uint32_t n) {
    int rc = nna_lock(d);
    if (rc != NNA_OK) return rc;
    rc = predict(d, in, in_f32, out, out_f32, n);
    nna_unlock(d);
    return rc;
}

int nna_predict(nna_dev_t *dev, const void *in_words, void *out_words, uint32_t n_samples) {
    return locked_predict(dev, in_words, 0, out_words, 0, n_samples);
}

int nna_predict_f32(nna_dev_t *dev, const float *in, float *out, uint32_t n_samples) {
    return locked_predict(dev, in, 1, out, 1, n_samples);
}

/* ---- several input / output tensors ---- */

/* Where tensor t's values of sample k lie in the caller's memory: base[t] + k * stride[t] bytes. */
typedef struct {
    uint8_t *base[NNA_MAX_TENSORS];
    size_t stride[NNA_MAX_TENSORS];
} views_t;

static uint32_t tensor_count(const nna_model_t *m, int out) {
    const uint32_t n = out ? m->n_out_tensors : m->n_in_tensors;
    return n > 1 ? n : 1u;
}

static int multi_tensor(const nna_model_t *m) { return tensor_count(m, 0) > 1 || tensor_count(m, 1) > 1; }

/* Tensor t of a side; a single-tensor side's one tensor comes from n_inputs and the regmap. */
static nna_tensor_t tensor_at(const nna_model_t *m, int out, uint32_t t) {
    nna_tensor_t one;
    if (tensor_count(m, out) > 1) return (out ? m->out_tensors : m->in_tensors)[t];
    one.name = out ? "output" : "input";
    one.n_values = out ? m->n_outputs : m->n_inputs;
    one.offset = 0;
    one.addr_reg = out ? m->regs.out_addr : m->regs.in_addr;
    one.lite_buf = out ? m->regs.out_buf : m->regs.in_buf;
    return one;
}

static int tensors_valid(const nna_model_t *m) {
    int out;
    for (out = 0; out < 2; out++) {
        const uint32_t n = out ? m->n_out_tensors : m->n_in_tensors;
        if (n > NNA_MAX_TENSORS || (n > 1 && (out ? m->out_tensors : m->in_tensors) == NULL)) return 0;
    }
    return 1;
}

/* axi_lite: a byte stream into (or out of) consecutive 32-bit registers from `reg` on. */
typedef struct {
    nna_dev_t *d;
    uint32_t reg;
    uint8_t b[4];
    unsigned n; /* writer: bytes collected; reader: bytes left in b */
} lite_bytes_t;

static void lite_put(lite_bytes_t *w, const uint8_t *p, size_t nb) {
    size_t i;
    for (i = 0; i < nb; i++) {
        w->b[w->n++] = p[i];
        if (w->n == 4u) {
            wr(w->d, w->reg, (uint32_t)w->b[0] | (uint32_t)w->b[1] << 8 | (uint32_t)w->b[2] << 16 |
                                 (uint32_t)w->b[3] << 24);
            w->reg += 4u;
            w->n = 0;
        }
    }
}

static void lite_flush(lite_bytes_t *w) {
    static const uint8_t zeros[4] = {0, 0, 0, 0};
    if (w->n) lite_put(w, zeros, 4u - w->n);
}

static void lite_get(lite_bytes_t *r, uint8_t *p, size_t nb) {
    size_t i;
    for (i = 0; i < nb; i++) {
        if (r->n == 0) {
            uint32_t v = rd(r->d, r->reg);
            r->reg += 4u;
            r->b[0] = (uint8_t)v;
            r->b[1] = (uint8_t)(v >> 8);
            r->b[2] = (uint8_t)(v >> 16);
            r->b[3] = (uint8_t)(v >> 24);
            r->n = 4u;
        }
        p[i] = r->b[4u - r->n--];
    }
}

/* axi_lite: tensor i's words of the k samples from `first` on go to its own window, packed as in
 * memory (samples one after another), and come back from the output tensors' windows. */
static int run_lite_views(nna_dev_t *d, const views_t *in, int in_f32, const views_t *out, int out_f32,
                          uint32_t first, uint32_t k) {
    const nna_model_t *m = d->model;
    uint8_t tmp[LITE_CHUNK];
    uint32_t t, s;
    size_t v;
    int rc;
    for (t = 0; t < tensor_count(m, 0); t++) {
        const nna_tensor_t ts = tensor_at(m, 0, t);
        const size_t per = LITE_CHUNK / m->in_word.bytes, unit = in_f32 ? 4u : m->in_word.bytes;
        lite_bytes_t w;
        w.d = d, w.reg = ts.lite_buf, w.n = 0;
        for (s = 0; s < k; s++) {
            const uint8_t *src = in->base[t] + (size_t)(first + s) * in->stride[t];
            for (v = 0; v < ts.n_values; v += per) {
                size_t c = ts.n_values - v < per ? ts.n_values - v : per;
                in_copy(m, tmp, src + v * unit, c, in_f32);
                lite_put(&w, tmp, c * m->in_word.bytes);
            }
        }
        lite_flush(&w);
    }
    rc = start_and_wait(d, m->cmd_run, k);
    if (rc == NNA_OK) rc = check_samples(d, k);
    if (rc != NNA_OK) return rc;
    for (t = 0; t < tensor_count(m, 1); t++) {
        const nna_tensor_t ts = tensor_at(m, 1, t);
        const size_t per = LITE_CHUNK / m->out_word.bytes, unit = out_f32 ? 4u : m->out_word.bytes;
        lite_bytes_t r;
        r.d = d, r.reg = ts.lite_buf, r.n = 0;
        for (s = 0; s < k; s++) {
            uint8_t *dst = out->base[t] + (size_t)(first + s) * out->stride[t];
            for (v = 0; v < ts.n_values; v += per) {
                size_t c = ts.n_values - v < per ? ts.n_values - v : per;
                lite_get(&r, tmp, c * m->out_word.bytes);
                out_copy(m, dst + v * unit, tmp, c, out_f32);
            }
        }
    }
    return NNA_OK;
}

/* axi_master: one block per tensor in the work memory, each at its own address register;
 * axi_stream: each sample's tensors end to end, as the one stream carries them. */
static int run_dma_views(nna_dev_t *d, const views_t *in, int in_f32, const views_t *out, int out_f32,
                         uint32_t first, uint32_t k) {
    const nna_model_t *m = d->model;
    const int master = m->interface == NNA_IF_AXI_MASTER;
    const size_t ib = m->in_word.bytes, ob = m->out_word.bytes;
    size_t off[2][NNA_MAX_TENSORS], at = 0, in_end = 0, out_start = 0;
    uint8_t *cpu = (uint8_t *)d->mem.cpu;
    uint32_t t, s;
    int side, rc;
    for (side = 0; side < 2; side++) {
        const size_t bytes = side ? ob : ib, row = side ? m->n_outputs : m->n_inputs;
        if (side) out_start = at;
        for (t = 0; t < tensor_count(m, side); t++) {
            const nna_tensor_t ts = tensor_at(m, side, t);
            off[side][t] = master ? at : at + ts.offset * bytes;
            if (master) at = align_up(at + (size_t)k * ts.n_values * bytes);
        }
        if (!master) at = align_up(at + (size_t)k * row * bytes);
        if (!side) in_end = at;
    }
    for (t = 0; t < tensor_count(m, 0); t++) {
        const nna_tensor_t ts = tensor_at(m, 0, t);
        const size_t step = master ? ts.n_values * ib : (size_t)m->n_inputs * ib; /* next sample's place */
        for (s = 0; s < k; s++)
            in_copy(m, cpu + off[0][t] + s * step, in->base[t] + (size_t)(first + s) * in->stride[t], ts.n_values,
                    in_f32);
    }
    nna_hal_flush(d->hal, cpu, in_end);
    nna_hal_flush(d->hal, cpu + out_start, at - out_start); /* no dirty line may land on the device's writes */
    if (master) {
        for (side = 0; side < 2; side++)
            for (t = 0; t < tensor_count(m, side); t++)
                wr64(d, tensor_at(m, side, t).addr_reg, d->mem.bus + off[side][t]);
        rc = start_and_wait(d, m->cmd_run, k);
    } else {
        rc = stream_transfer(d, (size_t)k * m->n_inputs * ib, out_start, (size_t)k * m->n_outputs * ob, k);
    }
    if (rc == NNA_OK) rc = check_samples(d, k);
    if (rc != NNA_OK) return rc;
    nna_hal_invalidate(d->hal, cpu + out_start, at - out_start);
    for (t = 0; t < tensor_count(m, 1); t++) {
        const nna_tensor_t ts = tensor_at(m, 1, t);
        const size_t step = master ? ts.n_values * ob : (size_t)m->n_outputs * ob;
        for (s = 0; s < k; s++)
            out_copy(m, out->base[t] + (size_t)(first + s) * out->stride[t], cpu + off[1][t] + s * step, ts.n_values,
                     out_f32);
    }
    return NNA_OK;
}

static int predict_views(nna_dev_t *d, const views_t *in, int in_f32, const views_t *out, int out_f32, uint32_t n) {
    const nna_model_t *m = d->model;
    uint32_t cap, done = 0;
    if (m->external_weights && !d->weights_loaded) return NNA_ERR_NO_WEIGHTS;
    d->run_bank = d->active_bank; /* the whole batch runs on this bank */
    cap = samples_per_start(d);
    if (n && cap == 0) return NNA_ERR_MEM_SMALL;
    while (done < n) {
        uint32_t k = n - done < cap ? n - done : cap;
        int rc = m->interface == NNA_IF_AXI_LITE ? run_lite_views(d, in, in_f32, out, out_f32, done, k)
                                                 : run_dma_views(d, in, in_f32, out, out_f32, done, k);
        if (rc != NNA_OK) return rc;
        done += k;
    }
    return NNA_OK;
}

/* nna_predict on a multi-tensor model: each sample's tensors end to end in `in` and `out`. */
static int predict_rows(nna_dev_t *d, const void *in, int in_f32, void *out, int out_f32, uint32_t n) {
    const nna_model_t *m = d->model;
    views_t vi, vo;
    uint32_t t;
    const size_t iu = in_f32 ? 4u : m->in_word.bytes, ou = out_f32 ? 4u : m->out_word.bytes;
    if (!tensors_valid(m)) return NNA_ERR_ARG;
    for (t = 0; t < tensor_count(m, 0); t++) {
        vi.base[t] = (uint8_t *)(uintptr_t)in + tensor_at(m, 0, t).offset * iu;
        vi.stride[t] = (size_t)m->n_inputs * iu;
    }
    for (t = 0; t < tensor_count(m, 1); t++) {
        vo.base[t] = (uint8_t *)out + tensor_at(m, 1, t).offset * ou;
        vo.stride[t] = (size_t)m->n_outputs * ou;
    }
    return predict_views(d, &vi, in_f32, &vo, out_f32, n);
}

static int predict_tensors(nna_dev_t *d, const void *const *in, int in_f32, void *const *out, int out_f32,
                           uint32_t n) {
    const nna_model_t *m;
    views_t vi, vo;
    uint32_t t;
    if (d == NULL || d->model == NULL || (n && (in == NULL || out == NULL))) return NNA_ERR_ARG;
    m = d->model;
    if (!tensors_valid(m)) return NNA_ERR_ARG;
    for (t = 0; t < tensor_count(m, 0); t++) {
        if (n && in[t] == NULL) return NNA_ERR_ARG;
        vi.base[t] = (uint8_t *)(uintptr_t)in[t];
        vi.stride[t] = (size_t)tensor_at(m, 0, t).n_values * (in_f32 ? 4u : m->in_word.bytes);
    }
    for (t = 0; t < tensor_count(m, 1); t++) {
        if (n && out[t] == NULL) return NNA_ERR_ARG;
        vo.base[t] = (uint8_t *)out[t];
        vo.stride[t] = (size_t)tensor_at(m, 1, t).n_values * (out_f32 ? 4u : m->out_word.bytes);
    }
    return predict_views(d, &vi, in_f32, &vo, out_f32, n);
}

static int locked_predict_tensors(nna_dev_t *d, const void *const *in, int in_f32, void *const *out, int out_f32,
                                  uint32_t n) {
    int rc = nna_lock(d);
    if (rc != NNA_OK) return rc;
    rc = predict_tensors(d, in, in_f32, out, out_f32, n);
    nna_unlock(d);
    return rc;
}

int nna_predict_tensors(nna_dev_t *dev, const void *const *in_words, void *const *out_words, uint32_t n_samples) {
    return locked_predict_tensors(dev, in_words, 0, out_words, 0, n_samples);
}

int nna_predict_tensors_f32(nna_dev_t *dev, const float *const *in, float *const *out, uint32_t n_samples) {
    return locked_predict_tensors(dev, (const void *const *)in, 1, (void *const *)out, 1, n_samples);
}
