/* Simulated nn_accel device: see nna_simdev.h. Host code (POSIX, dlopen, malloc). */
#define _POSIX_C_SOURCE 200809L
#include "nna_simdev.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int (*csim_start_fn)(uint32_t command, uint32_t n_samples, const void *in_words, void *out_words,
                             const void *weight_words, uint32_t *regs_out);

/* AXI DMA register offsets and bits (PG021, simple mode) */
enum { MM2S_DMACR = 0x00, MM2S_DMASR = 0x04, MM2S_SA = 0x18, MM2S_SA_MSB = 0x1C, MM2S_LENGTH = 0x28,
       S2MM_DMACR = 0x30, S2MM_DMASR = 0x34, S2MM_DA = 0x48, S2MM_DA_MSB = 0x4C, S2MM_LENGTH = 0x58 };
#define DMACR_RS 0x1u
#define DMACR_RESET 0x4u
#define DMASR_HALTED 0x1u
#define DMASR_IDLE 0x2u
#define DMASR_INT_ERR 0x10u
#define DMASR_DEC_ERR 0x40u
#define DMASR_IOC 0x1000u
#define DMASR_ERR_IRQ 0x4000u
#define DMA_WINDOW 0x10000u

#define N_OUTREGS 6 /* status, last_error, fingerprint, ident, samples_done, banks_valid (csim regs_out order) */

typedef struct {
    uint8_t *data;
    size_t len, cap;
} bytes_t;

typedef struct {
    uint32_t cr, sr, addr_lo, addr_hi, length;
    int active;
} dma_chan_t;

struct nna_sim {
    nna_sim_config_t cfg;
    void *dl;
    csim_start_fn csim;
    nna_sim_csim_banked_fn csim_banked;
    uint8_t *ddr;
    uint64_t ddr_next;
    /* s_axilite control */
    uint32_t ap_start, ap_done, ap_idle, ap_ready, auto_restart, gie, ier, isr;
    uint32_t command, n_samples, in_addr[2], out_addr[2], w_addr[2];
    uint32_t load_bank, active_bank;
    uint32_t outregs[N_OUTREGS], out_vld;
    uint8_t *lite_in, *lite_out;
    size_t lite_in_bytes, lite_out_bytes;
    /* the start in flight */
    int busy, computed;
    uint32_t run_command, run_n, run_in[2], run_out[2], run_w[2];
    uint32_t run_load_bank, run_active_bank;
    uint32_t busy_ticks;
    uint32_t pending_regs[N_OUTREGS];
    /* AXI DMA and the two streams */
    dma_chan_t mm2s, s2mm;
    bytes_t in_fifo, out_fifo;
    size_t *packets; /* byte length of each output packet (TLAST boundaries) queued in out_fifo */
    size_t n_packets, cap_packets;
    /* faults */
    int stall, stall_dma, flip_armed, force_error_armed, flip_weights_armed;
    uint32_t lose_irqs; /* completions whose interrupt is lost */
    uint32_t write_on_start_nth, write_on_start_off, write_on_start_val; /* nth 0: not armed */
    uint64_t flip_weights_bit;
    uint32_t force_error, dma_error_bits[2]; /* [0] MM2S, [1] S2MM */
    uint64_t flip_addr;
    unsigned flip_bit;
    uint64_t counters[NNA_SIM__COUNTERS];
    char fault[256];
    int trace;
    /* tensors 1.. of a multi-input/multi-output IP: address registers and axi_lite windows */
    uint32_t tin_addr[NNA_SIM_MAX_TENSORS][2], tout_addr[NNA_SIM_MAX_TENSORS][2];
    uint32_t run_tin[NNA_SIM_MAX_TENSORS][2], run_tout[NNA_SIM_MAX_TENSORS][2];
    uint8_t *tin_buf[NNA_SIM_MAX_TENSORS], *tout_buf[NNA_SIM_MAX_TENSORS];
};

static char create_error[512];

const char *nna_sim_create_error(void) { return create_error; }

static void set_fault(nna_sim_t *s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->fault, sizeof s->fault, fmt, ap);
    va_end(ap);
    if (s->trace) fprintf(stderr, "[nna-sim] fault: %s\n", s->fault);
}

static int bytes_push(bytes_t *b, const void *p, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        uint8_t *d;
        while (cap < b->len + n) cap *= 2;
        d = (uint8_t *)realloc(b->data, cap);
        if (d == NULL) return -1;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

static void bytes_pop(bytes_t *b, void *dst, size_t n) {
    if (dst) memcpy(dst, b->data, n);
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

/* ---- DDR ---- */
void *nna_sim_ddr_ptr(nna_sim_t *s, uint64_t addr, uint64_t size) {
    if (addr < s->cfg.ddr_base || addr - s->cfg.ddr_base > s->cfg.ddr_size ||
        size > s->cfg.ddr_size - (addr - s->cfg.ddr_base))
        return NULL;
    return s->ddr + (addr - s->cfg.ddr_base);
}

int nna_sim_ddr_addr(nna_sim_t *s, const void *cpu, uint64_t size, uint64_t *addr) {
    const uint8_t *p = (const uint8_t *)cpu;
    if (p < s->ddr || p > s->ddr + s->cfg.ddr_size || size > (uint64_t)(s->ddr + s->cfg.ddr_size - p)) return 0;
    *addr = s->cfg.ddr_base + (uint64_t)(p - s->ddr);
    return 1;
}

uint64_t nna_sim_ddr_alloc(nna_sim_t *s, uint64_t size, uint64_t align) {
    uint64_t a = align ? align : 64, off = (s->ddr_next + a - 1) / a * a;
    if (size == 0 || off + size > s->cfg.ddr_size) return 0;
    s->ddr_next = off + size;
    return s->cfg.ddr_base + off;
}

static uint64_t addr64(const uint32_t a[2]) { return (uint64_t)a[1] << 32 | a[0]; }

/* ---- the core ---- */
static void accel_write(nna_sim_t *s, uint32_t off, uint32_t v);

static int has_reg(uint32_t off) { return off != NNA_SIM_ABSENT && off != 0; }

static void begin(nna_sim_t *s) {
    s->busy = 1;
    s->computed = 0;
    s->ap_idle = 0;
    s->run_command = s->command;
    s->run_n = s->n_samples;
    memcpy(s->run_in, s->in_addr, sizeof s->run_in);
    memcpy(s->run_out, s->out_addr, sizeof s->run_out);
    memcpy(s->run_w, s->w_addr, sizeof s->run_w);
    s->run_load_bank = s->load_bank;
    s->run_active_bank = s->active_bank;
    memcpy(s->run_tin, s->tin_addr, sizeof s->run_tin);
    memcpy(s->run_tout, s->tout_addr, sizeof s->run_tout);
    s->counters[NNA_SIM_STARTS]++;
    if (s->write_on_start_nth && --s->write_on_start_nth == 0) accel_write(s, s->write_on_start_off, s->write_on_start_val);
    if (s->flip_armed) {
        s->flip_armed = 0;
        nna_sim_fault_flip_ddr(s, s->flip_addr, s->flip_bit);
    }
    if (s->flip_weights_armed && (s->run_command & s->cfg.cmd_load_weights)) {
        const uint64_t a = addr64(s->run_w) + s->flip_weights_bit / 8u;
        s->flip_weights_armed = 0;
        if (nna_sim_fault_flip_ddr(s, a, (unsigned)(s->flip_weights_bit % 8u)) != 0)
            set_fault(s, "weight-image flip at 0x%llx is outside DDR", (unsigned long long)a);
    }
}

/* The weights port reads the header, then as much payload as the header announces. */
static const void *weight_ptr(nna_sim_t *s, uint8_t **tmp) {
    uint64_t a = addr64(s->run_w);
    const uint8_t *h = (const uint8_t *)nna_sim_ddr_ptr(s, a, 32);
    uint32_t payload;
    *tmp = NULL;
    if (h == NULL) {
        set_fault(s, "weights port read 0x%llx outside DDR", (unsigned long long)a);
        s->counters[NNA_SIM_BUS_FAULTS]++;
        return NULL;
    }
    memcpy(&payload, h + 16, 4);
    if (nna_sim_ddr_ptr(s, a, 32ull + payload)) return h;
    /* past the end of DDR: the hardware reads bus errors; give the core zeros beyond the end */
    if (payload > (64u << 20)) payload = 64u << 20;
    *tmp = (uint8_t *)calloc(1, 32u + payload);
    if (*tmp) memcpy(*tmp, h, (size_t)(s->cfg.ddr_size - (a - s->cfg.ddr_base)));
    set_fault(s, "weights port read past the end of DDR");
    s->counters[NNA_SIM_BUS_FAULTS]++;
    return *tmp;
}

/* ---- several tensors (axi_master, axi_lite): the csim library takes each sample's tensors end
 * to end; the device holds them in one buffer or window per tensor ---- */
static int multi_tensor(const nna_sim_config_t *c) {
    return c->interface != 0 && (c->n_in_tensors > 1 || c->n_out_tensors > 1);
}

static size_t lite_window_bytes(const nna_sim_config_t *c, uint32_t values, uint32_t word_bytes) {
    return ((size_t)c->lite_max_batch * values * word_bytes + 3u) & ~(size_t)3u;
}

/* Tensor t's data: a pointer to `n` samples in DDR (axi_master) or its window (axi_lite). */
static uint8_t *tensor_data(nna_sim_t *s, int out, uint32_t t, uint32_t n) {
    const nna_sim_config_t *c = &s->cfg;
    const uint32_t size = out ? c->out_sizes[t] : c->in_sizes[t], bytes = out ? c->out_bytes : c->in_bytes;
    if (c->interface == 1) return t == 0 ? (out ? s->lite_out : s->lite_in) : (out ? s->tout_buf[t] : s->tin_buf[t]);
    return (uint8_t *)nna_sim_ddr_ptr(s, addr64(t == 0 ? (out ? s->run_out : s->run_in) : (out ? s->run_tout[t] : s->run_tin[t])),
                                      (uint64_t)n * size * bytes);
}

/* Copies between the per-tensor buffers and the csim library's end-to-end rows (to_rows: gather
 * the inputs; else scatter the outputs) for n samples. 0 when a buffer lies outside DDR. */
static int tensor_rows(nna_sim_t *s, int to_rows, uint8_t *rows, uint32_t n) {
    const nna_sim_config_t *c = &s->cfg;
    const uint32_t count = to_rows ? c->n_in_tensors : c->n_out_tensors;
    const uint32_t per = to_rows ? c->n_inputs : c->n_outputs, bytes = to_rows ? c->in_bytes : c->out_bytes;
    uint32_t t, at = 0, k;
    for (t = 0; t < count; t++) {
        const uint32_t size = to_rows ? c->in_sizes[t] : c->out_sizes[t];
        uint8_t *buf = tensor_data(s, !to_rows, t, n);
        if (buf == NULL) return 0;
        for (k = 0; k < n; k++) {
            uint8_t *row = rows + ((size_t)k * per + at) * bytes, *blk = buf + (size_t)k * size * bytes;
            if (to_rows) memcpy(row, blk, (size_t)size * bytes);
            else memcpy(blk, row, (size_t)size * bytes);
        }
        at += size;
    }
    return 1;
}

/* Returns 1 when the computation happened, 0 when the core is still waiting for input. */
static int compute(nna_sim_t *s) {
    const nna_sim_config_t *c = &s->cfg;
    const int run = (s->run_command & c->cmd_run) != 0, load = (s->run_command & c->cmd_load_weights) != 0;
    const size_t in_sz = (size_t)s->run_n * c->n_inputs * c->in_bytes;
    const size_t out_sz = (size_t)s->run_n * c->n_outputs * c->out_bytes;
    const void *in = NULL, *w = NULL;
    void *out = NULL;
    uint8_t *wtmp = NULL, *stream_in = NULL, *stream_out = NULL, *rows_in = NULL, *rows_out = NULL;
    /* samples a multi-tensor start moves (axi_lite: what the windows hold; the IP refuses more) */
    const uint32_t n_moved = c->interface == 1 && s->run_n > c->lite_max_batch ? c->lite_max_batch : s->run_n;
    int rc;

    if (s->force_error_armed) {
        s->force_error_armed = 0;
        memcpy(s->pending_regs, s->outregs, sizeof s->pending_regs);
        s->pending_regs[1] = s->force_error;
        s->pending_regs[4] = 0;
        return 1;
    }
    /* every RUN reads its n_samples * n_inputs words from in_stream: a refused one drains them */
    if (run && c->interface == 0 && s->in_fifo.len < in_sz) return 0; /* waiting for in_stream */
    if (load && c->external_weights) w = weight_ptr(s, &wtmp);
    if (run) {
        if (multi_tensor(c)) {
            rows_in = (uint8_t *)calloc(1, in_sz ? in_sz : 1);
            rows_out = (uint8_t *)calloc(1, out_sz ? out_sz : 1);
            if (rows_in && !tensor_rows(s, 1, rows_in, n_moved)) {
                set_fault(s, "m_axi_gmem_data access outside DDR (an input tensor's buffer, n %u)", s->run_n);
                s->counters[NNA_SIM_BUS_FAULTS]++;
                s->stall = 1; /* the real core hangs on the failed burst */
                free(rows_in);
                free(rows_out);
                free(wtmp);
                return 0;
            }
            in = rows_in;
            out = rows_out;
        } else if (c->interface == 2) {
            in = nna_sim_ddr_ptr(s, addr64(s->run_in), in_sz);
            out = nna_sim_ddr_ptr(s, addr64(s->run_out), out_sz);
            if ((in == NULL || out == NULL) && s->run_n) {
                set_fault(s, "m_axi_gmem_data access outside DDR (in 0x%llx, out 0x%llx, n %u)",
                          (unsigned long long)addr64(s->run_in), (unsigned long long)addr64(s->run_out), s->run_n);
                s->counters[NNA_SIM_BUS_FAULTS]++;
                s->stall = 1; /* the real core hangs on the failed burst */
                free(wtmp);
                return 0;
            }
        } else if (c->interface == 1) {
            in = s->lite_in;
            out = s->lite_out;
        } else {
            stream_in = (uint8_t *)calloc(1, in_sz ? in_sz : 1);
            stream_out = (uint8_t *)calloc(1, out_sz ? out_sz : 1);
            memcpy(stream_in, s->in_fifo.data, s->in_fifo.len < in_sz ? s->in_fifo.len : in_sz);
            in = stream_in;
            out = stream_out;
        }
    }
    s->counters[NNA_SIM_CSIM_CALLS]++;
    if (has_reg(c->reg_load_bank))
        rc = s->csim_banked ? s->csim_banked(s->run_command, s->run_n, in, out, w, s->run_load_bank,
                                             s->run_active_bank, s->pending_regs) : -1;
    else
        rc = s->csim ? s->csim(s->run_command, s->run_n, in, out, w, s->pending_regs) : -1;
    if (rc != 0) {
        s->counters[NNA_SIM_CSIM_FAULTS]++;
        set_fault(s, "nnaccel_csim_start returned %d", rc);
    }
    if (rows_out && rc == 0 && s->pending_regs[4] && !tensor_rows(s, 0, rows_out, s->pending_regs[4])) {
        set_fault(s, "m_axi_gmem_data write outside DDR (an output tensor's buffer)");
        s->counters[NNA_SIM_BUS_FAULTS]++;
    }
    free(rows_in);
    free(rows_out);
    if (stream_in) /* processed or drained: the core consumed the whole RUN's input */
        bytes_pop(&s->in_fifo, NULL, in_sz < s->in_fifo.len ? in_sz : s->in_fifo.len);
    if (stream_out) {
        size_t produced = (size_t)s->pending_regs[4] * c->n_outputs * c->out_bytes;
        if (produced) {
            if (s->n_packets == s->cap_packets) {
                size_t cap = s->cap_packets ? 2 * s->cap_packets : 8;
                size_t *p = (size_t *)realloc(s->packets, cap * sizeof *p);
                if (p) {
                    s->packets = p;
                    s->cap_packets = cap;
                }
            }
            if (s->n_packets < s->cap_packets && bytes_push(&s->out_fifo, stream_out, produced) == 0)
                s->packets[s->n_packets++] = produced;
        }
    }
    free(stream_in);
    free(stream_out);
    free(wtmp);
    return 1;
}

static void complete(nna_sim_t *s) {
    memcpy(s->outregs, s->pending_regs, sizeof s->outregs);
    s->out_vld = (1u << N_OUTREGS) - 1u;
    s->busy = 0;
    s->ap_done = 1;
    s->ap_ready = 1;
    s->ap_idle = 1;
    if (s->lose_irqs) { /* the event never reaches ISR (e.g. a glitch on the line or a dropped edge) */
        s->lose_irqs--;
        set_fault(s, "interrupt of a completed start lost");
    } else {
        s->isr |= s->ier & 3u; /* ap_done and ap_ready events, as enabled */
    }
    if (!s->auto_restart) s->ap_start = 0;
    else begin(s); /* auto_restart: the next start begins with the same arguments */
}

static void dma_step(nna_sim_t *s);

static void step_one(nna_sim_t *s) {
    s->counters[NNA_SIM_TICKS]++;
    dma_step(s);
    if (s->busy && !s->stall) {
        if (!s->computed) {
            if (compute(s)) {
                s->computed = 1;
                s->busy_ticks = s->cfg.latency_ticks;
            }
        } else if (s->busy_ticks > 0) {
            s->busy_ticks--;
        } else {
            complete(s);
        }
    }
    dma_step(s);
}

void nna_sim_step(nna_sim_t *s, uint32_t ticks) {
    while (ticks--) step_one(s);
}

/* ---- AXI DMA ---- */
static void dma_chan_reset(dma_chan_t *ch) {
    memset(ch, 0, sizeof *ch);
    ch->sr = DMASR_HALTED;
}

static void dma_fail(nna_sim_t *s, dma_chan_t *ch, uint32_t bits, const char *what) {
    ch->active = 0;
    ch->sr |= bits | DMASR_ERR_IRQ | DMASR_HALTED;
    ch->cr &= ~DMACR_RS;
    set_fault(s, "%s", what);
}

static void dma_step(nna_sim_t *s) {
    dma_chan_t *m = &s->mm2s, *w = &s->s2mm;
    if (s->cfg.interface != 0 || s->stall_dma) return;
    if (m->active) {
        uint64_t a = (uint64_t)m->addr_hi << 32 | m->addr_lo;
        const void *p = nna_sim_ddr_ptr(s, a, m->length);
        if (s->dma_error_bits[0]) {
            dma_fail(s, m, s->dma_error_bits[0], "injected MM2S error");
            s->dma_error_bits[0] = 0;
        } else if (p == NULL) {
            s->counters[NNA_SIM_BUS_FAULTS]++;
            dma_fail(s, m, DMASR_DEC_ERR, "MM2S read outside DDR");
        } else {
            bytes_push(&s->in_fifo, p, m->length);
            s->counters[NNA_SIM_DMA_BYTES] += m->length;
            m->active = 0;
            m->sr |= DMASR_IDLE | DMASR_IOC;
        }
    }
    if (w->active && s->n_packets > 0) {
        uint64_t a = (uint64_t)w->addr_hi << 32 | w->addr_lo;
        size_t pkt = s->packets[0], n = pkt < w->length ? pkt : w->length;
        void *p = nna_sim_ddr_ptr(s, a, n);
        if (s->dma_error_bits[1]) {
            dma_fail(s, w, s->dma_error_bits[1], "injected S2MM error");
            s->dma_error_bits[1] = 0;
        } else if (p == NULL) {
            s->counters[NNA_SIM_BUS_FAULTS]++;
            dma_fail(s, w, DMASR_DEC_ERR, "S2MM write outside DDR");
        } else {
            bytes_pop(&s->out_fifo, p, n);
            s->counters[NNA_SIM_DMA_BYTES] += n;
            if (n < pkt) { /* packet longer than the buffer: PG021 flags an internal error */
                s->packets[0] = pkt - n;
                dma_fail(s, w, DMASR_INT_ERR, "S2MM packet longer than the buffer length");
            } else {
                memmove(s->packets, s->packets + 1, (s->n_packets - 1) * sizeof *s->packets);
                s->n_packets--;
                w->length = (uint32_t)n; /* S2MM_LENGTH reads back the bytes received */
                w->active = 0;
                w->sr |= DMASR_IDLE | DMASR_IOC;
            }
        }
    }
}

static uint32_t dma_read(nna_sim_t *s, uint32_t off) {
    switch (off) {
    case MM2S_DMACR: return s->mm2s.cr;
    case MM2S_DMASR: return s->mm2s.sr;
    case MM2S_SA: return s->mm2s.addr_lo;
    case MM2S_SA_MSB: return s->mm2s.addr_hi;
    case MM2S_LENGTH: return s->mm2s.length;
    case S2MM_DMACR: return s->s2mm.cr;
    case S2MM_DMASR: return s->s2mm.sr;
    case S2MM_DA: return s->s2mm.addr_lo;
    case S2MM_DA_MSB: return s->s2mm.addr_hi;
    case S2MM_LENGTH: return s->s2mm.length;
    default: return 0;
    }
}

static void dma_cr_write(nna_sim_t *s, dma_chan_t *ch, uint32_t v) {
    if (v & DMACR_RESET) { /* a reset of either channel resets the whole DMA */
        dma_chan_reset(&s->mm2s);
        dma_chan_reset(&s->s2mm);
        s->in_fifo.len = 0;
        s->out_fifo.len = 0;
        s->n_packets = 0;
        return;
    }
    ch->cr = v;
    if (v & DMACR_RS) ch->sr &= ~DMASR_HALTED;
    else if (!ch->active) ch->sr |= DMASR_HALTED;
}

static void dma_length_write(nna_sim_t *s, dma_chan_t *ch, uint32_t v) {
    uint32_t bits = s->cfg.dma_length_bits ? s->cfg.dma_length_bits : 14;
    if (!(ch->cr & DMACR_RS) || (ch->sr & DMASR_HALTED)) {
        set_fault(s, "DMA length written while the channel is halted");
        return;
    }
    ch->length = bits >= 32 ? v : v & ((1u << bits) - 1u);
    if (ch->length == 0) return;
    ch->active = 1;
    ch->sr &= ~DMASR_IDLE;
}

static void dma_write(nna_sim_t *s, uint32_t off, uint32_t v) {
    switch (off) {
    case MM2S_DMACR: dma_cr_write(s, &s->mm2s, v); break;
    case MM2S_DMASR: s->mm2s.sr &= ~(v & 0x7000u); break; /* IRQ bits: write 1 to clear */
    case MM2S_SA: s->mm2s.addr_lo = v; break;
    case MM2S_SA_MSB: s->mm2s.addr_hi = v; break;
    case MM2S_LENGTH: dma_length_write(s, &s->mm2s, v); break;
    case S2MM_DMACR: dma_cr_write(s, &s->s2mm, v); break;
    case S2MM_DMASR: s->s2mm.sr &= ~(v & 0x7000u); break;
    case S2MM_DA: s->s2mm.addr_lo = v; break;
    case S2MM_DA_MSB: s->s2mm.addr_hi = v; break;
    case S2MM_LENGTH: dma_length_write(s, &s->s2mm, v); break;
    default: break;
    }
}

/* ---- accelerator registers ---- */
static int in_window(uint32_t off, uint32_t base, size_t bytes) {
    return base != NNA_SIM_ABSENT && off >= base && off < base + ((bytes + 3u) & ~(size_t)3u);
}

static int out_reg_index(const nna_sim_config_t *c, uint32_t off, int *vld) {
    const uint32_t offs[N_OUTREGS] = {c->reg_status, c->reg_last_error, c->reg_fingerprint, c->reg_ident,
                                      c->reg_samples_done, c->reg_banks_valid};
    int i;
    for (i = 0; i < N_OUTREGS; i++) {
        if (offs[i] == NNA_SIM_ABSENT || (i == N_OUTREGS - 1 && !has_reg(offs[i]))) continue;
        if (off == offs[i]) { *vld = 0; return i; }
        if (off == offs[i] + 4u) { *vld = 1; return i; }
    }
    return -1;
}

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Tensor t >= 1's address-register word at `off`, or NULL. */
static uint32_t *tensor_addr_word(nna_sim_t *s, uint32_t off) {
    const nna_sim_config_t *c = &s->cfg;
    uint32_t t;
    if (c->interface != 2) return NULL;
    for (t = 1; t < c->n_in_tensors; t++)
        if (off == c->reg_in_addrs[t] || off == c->reg_in_addrs[t] + 4u) return &s->tin_addr[t][(off - c->reg_in_addrs[t]) / 4u];
    for (t = 1; t < c->n_out_tensors; t++)
        if (off == c->reg_out_addrs[t] || off == c->reg_out_addrs[t] + 4u) return &s->tout_addr[t][(off - c->reg_out_addrs[t]) / 4u];
    return NULL;
}

/* The byte at `off` in tensor t >= 1's axi_lite window, or NULL; *is_out says which side. */
static uint8_t *tensor_window_byte(nna_sim_t *s, uint32_t off, int *is_out) {
    const nna_sim_config_t *c = &s->cfg;
    uint32_t t;
    if (c->interface != 1) return NULL;
    for (t = 1; t < c->n_in_tensors; t++)
        if (in_window(off, c->reg_in_bufs[t], lite_window_bytes(c, c->in_sizes[t], c->in_bytes))) {
            *is_out = 0;
            return s->tin_buf[t] + (off - c->reg_in_bufs[t]);
        }
    for (t = 1; t < c->n_out_tensors; t++)
        if (in_window(off, c->reg_out_bufs[t], lite_window_bytes(c, c->out_sizes[t], c->out_bytes))) {
            *is_out = 1;
            return s->tout_buf[t] + (off - c->reg_out_bufs[t]);
        }
    return NULL;
}

static uint32_t accel_read(nna_sim_t *s, uint32_t off) {
    const nna_sim_config_t *c = &s->cfg;
    int idx, vld;
    if (off == c->reg_ctrl) {
        uint32_t v = s->ap_start | s->ap_done << 1 | s->ap_idle << 2 | s->ap_ready << 3 | s->auto_restart << 7;
        s->ap_done = 0; /* clear on read */
        s->ap_ready = 0;
        return v;
    }
    if (off == c->reg_gie) return s->gie;
    if (off == c->reg_ier) return s->ier;
    if (off == c->reg_isr) return s->isr;
    if (off == c->reg_command) return s->command;
    if (off == c->reg_n_samples) return s->n_samples;
    if (has_reg(c->reg_load_bank) && off == c->reg_load_bank) return s->load_bank;
    if (has_reg(c->reg_active_bank) && off == c->reg_active_bank) return s->active_bank;
    if (c->reg_in_addr != NNA_SIM_ABSENT && (off == c->reg_in_addr || off == c->reg_in_addr + 4u))
        return s->in_addr[(off - c->reg_in_addr) / 4u];
    if (c->reg_out_addr != NNA_SIM_ABSENT && (off == c->reg_out_addr || off == c->reg_out_addr + 4u))
        return s->out_addr[(off - c->reg_out_addr) / 4u];
    if (c->reg_weights_addr != NNA_SIM_ABSENT && (off == c->reg_weights_addr || off == c->reg_weights_addr + 4u))
        return s->w_addr[(off - c->reg_weights_addr) / 4u];
    idx = out_reg_index(c, off, &vld);
    if (idx >= 0) {
        if (!vld) return s->outregs[idx];
        {
            uint32_t v = (s->out_vld >> idx) & 1u;
            s->out_vld &= ~(1u << idx);
            return v;
        }
    }
    if (in_window(off, c->reg_in_buf, s->lite_in_bytes)) return le32(s->lite_in + (off - c->reg_in_buf));
    if (in_window(off, c->reg_out_buf, s->lite_out_bytes)) return le32(s->lite_out + (off - c->reg_out_buf));
    {
        int is_out;
        uint32_t *word = tensor_addr_word(s, off);
        uint8_t *byte = tensor_window_byte(s, off, &is_out);
        if (word) return *word;
        if (byte) return le32(byte);
    }
    s->counters[NNA_SIM_BUS_FAULTS]++;
    set_fault(s, "read of unmapped register 0x%x", off);
    return 0;
}

static void accel_write(nna_sim_t *s, uint32_t off, uint32_t v) {
    const nna_sim_config_t *c = &s->cfg;
    if (off == c->reg_ctrl) {
        s->auto_restart = (v >> 7) & 1u;
        if (v & 1u) {
            s->ap_start = 1;
            if (!s->busy) begin(s);
        }
    } else if (off == c->reg_gie) {
        s->gie = v & 1u;
    } else if (off == c->reg_ier) {
        s->ier = v & 3u;
    } else if (off == c->reg_isr) {
        s->isr ^= v & 3u; /* toggle on write */
    } else if (off == c->reg_command) {
        s->command = v;
    } else if (off == c->reg_n_samples) {
        s->n_samples = v;
    } else if (has_reg(c->reg_load_bank) && off == c->reg_load_bank) {
        s->load_bank = v;
    } else if (has_reg(c->reg_active_bank) && off == c->reg_active_bank) {
        s->active_bank = v;
    } else if (c->reg_in_addr != NNA_SIM_ABSENT && (off == c->reg_in_addr || off == c->reg_in_addr + 4u)) {
        s->in_addr[(off - c->reg_in_addr) / 4u] = v;
    } else if (c->reg_out_addr != NNA_SIM_ABSENT && (off == c->reg_out_addr || off == c->reg_out_addr + 4u)) {
        s->out_addr[(off - c->reg_out_addr) / 4u] = v;
    } else if (c->reg_weights_addr != NNA_SIM_ABSENT &&
               (off == c->reg_weights_addr || off == c->reg_weights_addr + 4u)) {
        s->w_addr[(off - c->reg_weights_addr) / 4u] = v;
    } else if (in_window(off, c->reg_in_buf, s->lite_in_bytes)) {
        uint8_t *p = s->lite_in + (off - c->reg_in_buf);
        p[0] = (uint8_t)v;
        p[1] = (uint8_t)(v >> 8);
        p[2] = (uint8_t)(v >> 16);
        p[3] = (uint8_t)(v >> 24);
    } else if (tensor_addr_word(s, off)) {
        *tensor_addr_word(s, off) = v;
    } else {
        int is_out = 1;
        uint8_t *p = tensor_window_byte(s, off, &is_out);
        if (p && !is_out) {
            p[0] = (uint8_t)v;
            p[1] = (uint8_t)(v >> 8);
            p[2] = (uint8_t)(v >> 16);
            p[3] = (uint8_t)(v >> 24);
            return;
        }
        s->counters[NNA_SIM_BUS_FAULTS]++;
        set_fault(s, "write of unmapped or read-only register 0x%x", off);
    }
}

uint32_t nna_sim_read32(nna_sim_t *s, uint64_t addr) {
    uint32_t v;
    step_one(s);
    s->counters[NNA_SIM_REG_READS]++;
    if (addr >= s->cfg.accel_base && addr < s->cfg.accel_base + s->cfg.address_range) {
        v = accel_read(s, (uint32_t)(addr - s->cfg.accel_base));
    } else if (s->cfg.interface == 0 && addr >= s->cfg.dma_base && addr < s->cfg.dma_base + DMA_WINDOW) {
        v = dma_read(s, (uint32_t)(addr - s->cfg.dma_base));
    } else {
        const uint8_t *p = (const uint8_t *)nna_sim_ddr_ptr(s, addr, 4);
        if (p == NULL) {
            s->counters[NNA_SIM_BUS_FAULTS]++;
            set_fault(s, "read of unmapped address 0x%llx", (unsigned long long)addr);
            return 0;
        }
        v = le32(p);
    }
    if (s->trace) fprintf(stderr, "[nna-sim] R %08llx -> %08x\n", (unsigned long long)addr, v);
    return v;
}

void nna_sim_write32(nna_sim_t *s, uint64_t addr, uint32_t v) {
    step_one(s);
    s->counters[NNA_SIM_REG_WRITES]++;
    if (s->trace) fprintf(stderr, "[nna-sim] W %08llx <- %08x\n", (unsigned long long)addr, v);
    if (addr >= s->cfg.accel_base && addr < s->cfg.accel_base + s->cfg.address_range) {
        accel_write(s, (uint32_t)(addr - s->cfg.accel_base), v);
    } else if (s->cfg.interface == 0 && addr >= s->cfg.dma_base && addr < s->cfg.dma_base + DMA_WINDOW) {
        dma_write(s, (uint32_t)(addr - s->cfg.dma_base), v);
    } else {
        uint8_t *p = (uint8_t *)nna_sim_ddr_ptr(s, addr, 4);
        if (p == NULL) {
            s->counters[NNA_SIM_BUS_FAULTS]++;
            set_fault(s, "write of unmapped address 0x%llx", (unsigned long long)addr);
            return;
        }
        p[0] = (uint8_t)v;
        p[1] = (uint8_t)(v >> 8);
        p[2] = (uint8_t)(v >> 16);
        p[3] = (uint8_t)(v >> 24);
    }
}

int nna_sim_irq(nna_sim_t *s) {
    step_one(s);
    return s->gie && s->isr != 0;
}

/* ---- faults, counters ---- */
void nna_sim_fault_stall(nna_sim_t *s, int on) { s->stall = on; }
void nna_sim_fault_stall_dma(nna_sim_t *s, int on) { s->stall_dma = on; }
void nna_sim_fault_force_error(nna_sim_t *s, uint32_t code) {
    s->force_error = code;
    s->force_error_armed = 1;
}
void nna_sim_fault_dma_error(nna_sim_t *s, int s2mm, uint32_t bits) { s->dma_error_bits[s2mm ? 1 : 0] = bits; }
int nna_sim_fault_flip_ddr(nna_sim_t *s, uint64_t addr, unsigned bit) {
    uint8_t *p = (uint8_t *)nna_sim_ddr_ptr(s, addr + bit / 8u, 1);
    if (p == NULL) return -1;
    *p ^= (uint8_t)(1u << (bit % 8u));
    return 0;
}
void nna_sim_fault_flip_on_start(nna_sim_t *s, uint64_t addr, unsigned bit) {
    s->flip_addr = addr;
    s->flip_bit = bit;
    s->flip_armed = 1;
}
void nna_sim_fault_flip_weights_on_load(nna_sim_t *s, uint64_t bit) {
    s->flip_weights_bit = bit;
    s->flip_weights_armed = 1;
}
void nna_sim_fault_lose_irq(nna_sim_t *s, uint32_t count) { s->lose_irqs = count; }
void nna_sim_fault_write_on_start(nna_sim_t *s, uint32_t nth, uint32_t offset, uint32_t value) {
    s->write_on_start_nth = nth;
    s->write_on_start_off = offset;
    s->write_on_start_val = value;
}
void nna_sim_fault_clear(nna_sim_t *s) {
    s->stall = s->stall_dma = s->flip_armed = s->force_error_armed = s->flip_weights_armed = 0;
    s->lose_irqs = 0;
    s->write_on_start_nth = 0;
    s->dma_error_bits[0] = s->dma_error_bits[1] = 0;
    s->fault[0] = '\0';
}

uint64_t nna_sim_counter(nna_sim_t *s, int which) {
    return which >= 0 && which < NNA_SIM__COUNTERS ? s->counters[which] : 0;
}
const char *nna_sim_last_fault(nna_sim_t *s) { return s->fault; }
void nna_sim_set_trace(nna_sim_t *s, int on) { s->trace = on; }
void nna_sim_set_csim(nna_sim_t *s, nna_sim_csim_fn fn) { s->csim = (csim_start_fn)fn; }
void nna_sim_set_csim_banked(nna_sim_t *s, nna_sim_csim_banked_fn fn) { s->csim_banked = fn; }

/* ---- life cycle ---- */
nna_sim_t *nna_sim_create(const nna_sim_config_t *cfg, const char *csim_library) {
    nna_sim_t *s;
    create_error[0] = '\0';
    if (cfg == NULL) {
        snprintf(create_error, sizeof create_error, "nna_sim_create: NULL configuration");
        return NULL;
    }
    if (cfg->n_inputs == 0 || cfg->n_outputs == 0 || cfg->in_bytes == 0 || cfg->out_bytes == 0 ||
        cfg->interface > 2 || cfg->ddr_size == 0 || cfg->address_range == 0) {
        snprintf(create_error, sizeof create_error, "nna_sim_create: incomplete configuration");
        return NULL;
    }
    if (cfg->n_in_tensors > NNA_SIM_MAX_TENSORS || cfg->n_out_tensors > NNA_SIM_MAX_TENSORS) {
        snprintf(create_error, sizeof create_error, "nna_sim_create: more than %d tensors a side", NNA_SIM_MAX_TENSORS);
        return NULL;
    }
    s = (nna_sim_t *)calloc(1, sizeof *s);
    if (s == NULL) return NULL;
    s->cfg = *cfg;
    if (s->cfg.n_in_tensors <= 1) { /* one input tensor: the single-tensor fields describe it */
        s->cfg.n_in_tensors = 1;
        s->cfg.in_sizes[0] = cfg->n_inputs;
    }
    if (s->cfg.n_out_tensors <= 1) {
        s->cfg.n_out_tensors = 1;
        s->cfg.out_sizes[0] = cfg->n_outputs;
    }
    {
        uint32_t t, sum_in = 0, sum_out = 0;
        for (t = 0; t < s->cfg.n_in_tensors; t++) sum_in += s->cfg.in_sizes[t];
        for (t = 0; t < s->cfg.n_out_tensors; t++) sum_out += s->cfg.out_sizes[t];
        if (sum_in != cfg->n_inputs || sum_out != cfg->n_outputs) {
            snprintf(create_error, sizeof create_error, "nna_sim_create: tensor sizes do not add up to n_inputs/n_outputs");
            free(s);
            return NULL;
        }
    }
    if (s->cfg.latency_ticks == 0) s->cfg.latency_ticks = 3;
    if (s->cfg.cmd_load_weights == 0) s->cfg.cmd_load_weights = 1;
    if (s->cfg.cmd_run == 0) s->cfg.cmd_run = 2;
    if (s->cfg.status_weights_valid == 0) s->cfg.status_weights_valid = 1;
    if (csim_library != NULL) s->dl = dlopen(csim_library, RTLD_NOW | RTLD_LOCAL);
    if (csim_library != NULL && s->dl == NULL) {
        snprintf(create_error, sizeof create_error, "cannot load %s: %s", csim_library, dlerror());
        free(s);
        return NULL;
    }
    if (s->dl) *(void **)(&s->csim) = dlsym(s->dl, "nnaccel_csim_start");
    if (s->dl && s->csim == NULL) {
        snprintf(create_error, sizeof create_error, "%s has no nnaccel_csim_start", csim_library);
        dlclose(s->dl);
        free(s);
        return NULL;
    }
    if (s->dl) *(void **)(&s->csim_banked) = dlsym(s->dl, "nnaccel_csim_start_banked"); /* NULL: one bank */
    /* page-aligned like real DDR, so bus-address alignment carries over to host pointers */
    if (posix_memalign((void **)&s->ddr, 4096, (size_t)cfg->ddr_size) == 0) memset(s->ddr, 0, (size_t)cfg->ddr_size);
    else s->ddr = NULL;
    /* tensor 0's windows (a single-tensor IP: all its values) */
    s->lite_in_bytes = cfg->interface == 1 ? lite_window_bytes(&s->cfg, s->cfg.in_sizes[0], cfg->in_bytes) : 0;
    s->lite_out_bytes = cfg->interface == 1 ? lite_window_bytes(&s->cfg, s->cfg.out_sizes[0], cfg->out_bytes) : 0;
    if (cfg->interface == 1) {
        uint32_t t;
        for (t = 1; t < s->cfg.n_in_tensors; t++)
            if (!(s->tin_buf[t] = (uint8_t *)calloc(1, lite_window_bytes(&s->cfg, s->cfg.in_sizes[t], cfg->in_bytes) + 4)))
                s->ddr = (free(s->ddr), NULL); /* reported below as out of memory */
        for (t = 1; t < s->cfg.n_out_tensors; t++)
            if (!(s->tout_buf[t] = (uint8_t *)calloc(1, lite_window_bytes(&s->cfg, s->cfg.out_sizes[t], cfg->out_bytes) + 4)))
                s->ddr = (free(s->ddr), NULL);
    }
    s->lite_in = (uint8_t *)calloc(1, s->lite_in_bytes + 4);
    s->lite_out = (uint8_t *)calloc(1, s->lite_out_bytes + 4);
    if (s->ddr == NULL || s->lite_in == NULL || s->lite_out == NULL) {
        snprintf(create_error, sizeof create_error, "out of memory for %llu bytes of DDR", (unsigned long long)cfg->ddr_size);
        nna_sim_destroy(s);
        return NULL;
    }
    s->ap_idle = 1;
    dma_chan_reset(&s->mm2s);
    dma_chan_reset(&s->s2mm);
    return s;
}

void nna_sim_destroy(nna_sim_t *s) {
    if (s == NULL) return;
    if (s->dl) dlclose(s->dl);
    free(s->ddr);
    free(s->lite_in);
    free(s->lite_out);
    {
        int t;
        for (t = 0; t < NNA_SIM_MAX_TENSORS; t++) {
            free(s->tin_buf[t]);
            free(s->tout_buf[t]);
        }
    }
    free(s->in_fifo.data);
    free(s->out_fifo.data);
    free(s->packets);
    free(s);
}
