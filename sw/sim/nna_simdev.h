/* Simulated nn_accel device (host only): the accelerator as it looks from the bus.
 *
 *   - s_axilite register file with Vitis HLS ap_ctrl_hs semantics: ap_start, ap_done
 *     (clear on read), ap_idle, ap_ready (clear on read), auto_restart, GIE / IER / ISR
 *     (toggle on write), output registers with their _ap_vld word (+4, clear on read);
 *     output registers read 0 until the first start completes, as on hardware;
 *   - a DDR address space (bump allocator) for buffers and weight images;
 *   - an AXI DMA in simple mode (PG021 registers) feeding in_stream / draining out_stream;
 *   - on ap_start it calls nnaccel_csim_start() of the C-simulated accelerator (a shared
 *     library loaded with dlopen) with host pointers translated from the DDR addresses;
 *   - fault injection: stalled core, stalled DMA, forced LAST_ERROR, DMA error, lost interrupt,
 *     DDR bit flips (anywhere, or in the weight image the next LOAD reads).
 *
 * Time advances one tick per bus access (and per irq query); a start stays busy for
 * `latency_ticks` ticks after its computation.
 *
 * The csim library keeps its weights in static storage: two simulated devices built on the
 * same library path share them (dlopen returns one handle per path). */
#ifndef NNA_SIMDEV_H_
#define NNA_SIMDEV_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NNA_SIM_ABSENT 0xFFFFFFFFu
#define NNA_SIM_MAX_TENSORS 9 /* inputs (and outputs) of a multi-input/multi-output IP */

typedef struct {
    uint32_t interface; /* 0 axi_stream, 1 axi_lite, 2 axi_master */
    uint32_t external_weights;
    uint32_t n_inputs, n_outputs, in_bytes, out_bytes;
    uint32_t lite_max_batch;
    uint32_t latency_ticks;   /* bus accesses a start stays busy after computing (default 3 if 0) */
    uint32_t dma_length_bits; /* AXI DMA buffer length register width (default 14 if 0) */
    uint32_t cmd_load_weights, cmd_run, status_weights_valid; /* regmap.json commands / status bits */
    /* s_axilite offsets (regmap.json), NNA_SIM_ABSENT when the register does not exist */
    uint32_t reg_ctrl, reg_gie, reg_ier, reg_isr, reg_command, reg_n_samples;
    uint32_t reg_in_addr, reg_out_addr, reg_weights_addr;
    uint32_t reg_status, reg_last_error, reg_fingerprint, reg_ident, reg_samples_done;
    uint32_t reg_in_buf, reg_out_buf, address_range;
    uint64_t accel_base, dma_base, ddr_base, ddr_size;
    /* weight banks (regmap.json, weight_banks > 1): NNA_SIM_ABSENT (or 0 from a zeroed config)
     * when the IP has one bank. LOAD_BANK / ACTIVE_BANK are latched at ap_start like every
     * s_axilite argument, so a write during a start takes effect at the next one. */
    uint32_t reg_load_bank, reg_active_bank, reg_banks_valid;
    /* A multi-input/multi-output IP (0 or 1 tensors a side: the single-tensor IP above). The
     * csim library takes and gives each sample's tensors end to end (n_inputs = sum of in_sizes);
     * on axi_master tensor i has its own address register, on axi_lite its own window; tensor 0's
     * are reg_in_addr/reg_out_addr and reg_in_buf/reg_out_buf. axi_stream needs none of this (the
     * tensors travel end to end on the one stream). */
    uint32_t n_in_tensors, n_out_tensors;
    uint32_t in_sizes[NNA_SIM_MAX_TENSORS], out_sizes[NNA_SIM_MAX_TENSORS];  /* values per sample */
    uint32_t reg_in_addrs[NNA_SIM_MAX_TENSORS], reg_out_addrs[NNA_SIM_MAX_TENSORS];
    uint32_t reg_in_bufs[NNA_SIM_MAX_TENSORS], reg_out_bufs[NNA_SIM_MAX_TENSORS];
} nna_sim_config_t;

typedef struct nna_sim nna_sim_t;

/* Counters for tests (nna_sim_counter). */
enum {
    NNA_SIM_REG_READS = 0,
    NNA_SIM_REG_WRITES,   /* accelerator + DMA register writes */
    NNA_SIM_STARTS,       /* starts the core accepted */
    NNA_SIM_CSIM_CALLS,
    NNA_SIM_TICKS,
    NNA_SIM_BUS_FAULTS,   /* accesses outside DDR / unmapped registers */
    NNA_SIM_CSIM_FAULTS,  /* nnaccel_csim_start returned non-zero */
    NNA_SIM_DMA_BYTES,
    NNA_SIM__COUNTERS
};

/* Returns NULL on failure; nna_sim_create_error() then says why. csim_library NULL: no library
 * is loaded here; attach the C-simulation with nna_sim_set_csim (e.g. one that forwards each
 * start to a worker process, so that a crash in the model's C++ does not end this one). */
nna_sim_t *nna_sim_create(const nna_sim_config_t *cfg, const char *csim_library);
typedef int (*nna_sim_csim_fn)(uint32_t command, uint32_t n_samples, const void *in_words, void *out_words,
                               const void *weight_words, uint32_t *regs_out);
void nna_sim_set_csim(nna_sim_t *sim, nna_sim_csim_fn fn); /* a start without one faults (code -1) */
/* The bridge's nnaccel_csim_start_banked (IPs with weight banks): regs_out gets a sixth word,
 * BANKS_VALID. Looked up in csim_library by nna_sim_create; set here when starts are forwarded.
 * With bank registers configured, starts go through it. */
typedef int (*nna_sim_csim_banked_fn)(uint32_t command, uint32_t n_samples, const void *in_words, void *out_words,
                                      const void *weight_words, uint32_t load_bank, uint32_t active_bank,
                                      uint32_t *regs_out);
void nna_sim_set_csim_banked(nna_sim_t *sim, nna_sim_csim_banked_fn fn);
const char *nna_sim_create_error(void);
void nna_sim_destroy(nna_sim_t *sim);

/* Bus: accelerator registers at accel_base, DMA registers at dma_base, DDR at ddr_base. */
uint32_t nna_sim_read32(nna_sim_t *sim, uint64_t addr);
void nna_sim_write32(nna_sim_t *sim, uint64_t addr, uint32_t value);
int nna_sim_irq(nna_sim_t *sim); /* accelerator interrupt line (also advances one tick) */
void nna_sim_step(nna_sim_t *sim, uint32_t ticks);

/* DDR */
uint64_t nna_sim_ddr_alloc(nna_sim_t *sim, uint64_t size, uint64_t align); /* 0 when full */
void *nna_sim_ddr_ptr(nna_sim_t *sim, uint64_t addr, uint64_t size);        /* NULL if outside */
int nna_sim_ddr_addr(nna_sim_t *sim, const void *cpu, uint64_t size, uint64_t *addr);

/* Fault injection */
void nna_sim_fault_stall(nna_sim_t *sim, int on);                 /* starts never finish */
void nna_sim_fault_stall_dma(nna_sim_t *sim, int on);             /* DMA transfers never finish */
void nna_sim_fault_force_error(nna_sim_t *sim, uint32_t code);    /* next start: LAST_ERROR=code, no compute */
void nna_sim_fault_dma_error(nna_sim_t *sim, int s2mm, uint32_t dmasr_bits); /* next MM2S (0) / S2MM (1) transfer fails */
int nna_sim_fault_flip_ddr(nna_sim_t *sim, uint64_t addr, unsigned bit);      /* flip now */
void nna_sim_fault_flip_on_start(nna_sim_t *sim, uint64_t addr, unsigned bit);/* flip when the next start begins */
/* When the next start with LOAD_WEIGHTS begins, flip bit `bit` (counted from the first byte at
 * WEIGHTS_ADDR) of the image in DDR: memory corrupted after the driver checked the image and
 * before the core reads it. */
void nna_sim_fault_flip_weights_on_load(nna_sim_t *sim, uint64_t bit);
/* The next `count` completions set ap_done in CTRL but never raise ISR / the interrupt line. */
void nna_sim_fault_lose_irq(nna_sim_t *sim, uint32_t count);
/* When the `nth` start from now (1: the next) has begun, write `value` to the accelerator register
 * at `offset`, as another bus master would while that start runs (e.g. ACTIVE_BANK in mid-batch). */
void nna_sim_fault_write_on_start(nna_sim_t *sim, uint32_t nth, uint32_t offset, uint32_t value);
void nna_sim_fault_clear(nna_sim_t *sim);

uint64_t nna_sim_counter(nna_sim_t *sim, int which);
const char *nna_sim_last_fault(nna_sim_t *sim); /* "" if none */
void nna_sim_set_trace(nna_sim_t *sim, int on); /* register accesses to stderr */

#ifdef __cplusplus
}
#endif
#endif
