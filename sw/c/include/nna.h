/* nn_accel driver library: C99, no dynamic allocation, bare-metal / Linux / host simulation.
 *
 * The library is model-independent: everything that depends on one accelerator (sizes,
 * word types, register offsets, fingerprint) comes from an nna_model_t that the generated
 * <top>_model.h defines (`nnaccel header`, or written with the IP). Register offsets are
 * never hard-coded here; only the Vitis HLS control-register bit meanings are, because they
 * are the tool's convention, not this project's.
 *
 * Typical use:
 *     #include "nna.h"
 *     #include "nn_accel_model.h"
 *     static nna_dev_t dev;
 *     nna_init(&dev, &nn_accel_model, hal, BASE, DMA_BASE, &mem);   // checks IDENT + fingerprint
 *     nna_load_weights(&dev, image, image_len);                       // validates the image first
 *     nna_predict_f32(&dev, x, y, n_samples);
 *
 * Weight banks (an IP with weight_banks > 1): nna_load_weights_bank writes one bank while RUNs
 * go on using the active one; nna_select_bank makes another (validly loaded) bank active for
 * the next batch. A batch runs entirely on the bank active when nna_predict* began.
 */
#ifndef NNA_H_
#define NNA_H_

#include <stddef.h>
#include <stdint.h>

#include "nna_hal.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NNA_LIB_VERSION "1.0.0"
#define NNA_REGMAP_VERSION 3u /* register map this library drives; <top>_model.h must match */
#define NNA_MAX_TENSORS 9u    /* inputs (and outputs) of a multi-input/multi-output model */
#define NNA_IMAGE_MAGIC 0x57414E4Eu /* "NNAW" */
#define NNA_IMAGE_VERSION 1u
#define NNA_IMAGE_HEADER_BYTES 32u
#define NNA_REG_ABSENT 0xFFFFFFFFu /* register not present in this IP's map */
#define NNA_CODE_ABSENT 0xFFFFFFFFu /* LAST_ERROR code not defined by this IP's map */

/* ---- status codes: every function returns one; nna_strerror() names it ---- */
typedef enum {
    NNA_OK = 0,
    NNA_ERR_ARG,              /* NULL pointer, zero size or a value out of range */
    NNA_ERR_IDENT,            /* no nn_accel register map at this address (IDENT mismatch) */
    NNA_ERR_FINGERPRINT,      /* the IP was built for another weight layout than this model header */
    NNA_ERR_IMAGE_SHORT,      /* weight image shorter than its header / its declared payload */
    NNA_ERR_IMAGE_MAGIC,      /* weight image does not start with "NNAW" */
    NNA_ERR_IMAGE_VERSION,    /* weight image format version not supported (or its reserved word is not 0) */
    NNA_ERR_IMAGE_LAYOUT,     /* weight image fingerprint is for another layout */
    NNA_ERR_IMAGE_ENCODING,   /* weight image encoding is neither native (0) nor float32 (1) */
    NNA_ERR_IMAGE_BUS,        /* weight image bus width differs from the IP's weights port */
    NNA_ERR_IMAGE_LENGTH,     /* header / payload / value counts disagree with the layout, or bytes follow the payload */
    NNA_ERR_IMAGE_CRC,        /* payload CRC-32 does not match the header */
    NNA_ERR_NOT_LOADABLE,     /* the IP has embedded weights */
    NNA_ERR_NO_WEIGHTS,       /* RUN before a successful weight load */
    NNA_ERR_BUSY,             /* the core is not idle (a previous start never finished) */
    NNA_ERR_TIMEOUT,          /* the core or the DMA did not finish within the timeout */
    NNA_ERR_DEVICE,           /* the core reported an error: see nna_dev_t.last_device_error */
    NNA_ERR_DMA,              /* the AXI DMA reported an error (DMASR error bits) */
    NNA_ERR_NO_BUS_ADDR,      /* a buffer is not in DMA-able memory */
    NNA_ERR_MEM_SMALL,        /* the DMA work memory cannot hold one sample / the image */
    NNA_ERR_SAMPLES,          /* the core processed fewer samples than asked */
    NNA_ERR_HAL,              /* the hardware access layer failed (see its own message) */
    NNA_ERR_DEVICE_CRC,       /* the core read a payload that fails the header's CRC-32 (the image changed in
                                 memory after the host's check): the core has NO valid weights now */
    NNA_ERR_BANK,             /* weight bank does not exist, or (nna_select_bank) holds no valid weights */
    NNA_ERR__COUNT
} nna_status_t;

/* ---- per-model description (filled by the generated <top>_model.h) ---- */
typedef enum { NNA_IF_AXI_STREAM = 0, NNA_IF_AXI_LITE = 1, NNA_IF_AXI_MASTER = 2 } nna_interface_t;

typedef enum {
    NNA_Q_TRN = 0, NNA_Q_TRN_ZERO, NNA_Q_RND, NNA_Q_RND_ZERO, NNA_Q_RND_MIN_INF, NNA_Q_RND_INF, NNA_Q_RND_CONV
} nna_rounding_t;
typedef enum { NNA_O_WRAP = 0, NNA_O_SAT, NNA_O_SAT_ZERO, NNA_O_SAT_SYM } nna_saturation_t;

/* One data word on the interface: IEEE float32 or an ap_[u]fixed / ap_[u]int of 8, 16 or 32 bits. */
typedef struct {
    uint8_t is_float;
    uint8_t bits;
    uint8_t bytes;
    uint8_t is_signed;
    int16_t integer;     /* ap_fixed I (integer bits incl. sign); == bits for ap_int */
    uint8_t rounding;    /* nna_rounding_t, used when encoding floats */
    uint8_t saturation;  /* nna_saturation_t */
} nna_word_t;

/* Register offsets of the s_axilite control port (from regmap.json); NNA_REG_ABSENT if missing. */
typedef struct {
    uint32_t ctrl, gie, ier, isr;
    uint32_t command, n_samples, in_addr, out_addr, weights_addr;
    uint32_t status, last_error, fingerprint, ident, samples_done;
    uint32_t in_buf, out_buf; /* axi_lite register-mapped buffers */
    uint32_t address_range;
    uint32_t load_bank, active_bank, banks_valid; /* weight banks only (NNA_REG_ABSENT with one bank) */
} nna_regmap_t;

/* One input or output tensor of a multi-input/multi-output model. Each sample's tensors lie end
 * to end in the n_inputs (n_outputs) values nna_predict takes (gives): `offset` is this tensor's
 * first value there. On axi_master each tensor has its own buffer and address register, on
 * axi_lite its own register window; on axi_stream they travel end to end on the one stream. */
typedef struct {
    const char *name;
    uint32_t n_values;  /* values per sample */
    uint32_t offset;    /* first value within a sample's end-to-end values */
    uint32_t addr_reg;  /* axi_master: its address register (tensor 0: regs.in_addr / out_addr) */
    uint32_t lite_buf;  /* axi_lite: its window (tensor 0: regs.in_buf / out_buf) */
} nna_tensor_t;

typedef struct {
    const char *top;
    const char *vlnv;
    uint8_t interface;          /* nna_interface_t */
    uint8_t external_weights;   /* 1: weights port + LOAD_WEIGHTS; 0: embedded */
    uint16_t weight_encoding;   /* encoding of the IP's own weights.bin: 0 native, 1 float32 (both load) */
    uint16_t bus_width;         /* bits of the weights m_axi port */
    uint32_t n_inputs, n_outputs;
    nna_word_t in_word, out_word;
    uint32_t lite_max_batch;    /* axi_lite: samples per start */
    uint32_t fingerprint;
    uint32_t ident;
    uint32_t image_payload_bytes[2]; /* per encoding, from weights_layout.json */
    uint32_t image_values;
    uint32_t cmd_load_weights, cmd_run;
    uint32_t status_weights_valid, status_weights_external; /* bit masks */
    uint32_t err_no_weights, err_bad_crc; /* LAST_ERROR codes the driver acts on (NNA_CODE_ABSENT if undefined) */
    nna_regmap_t regs;
    const char *const *device_errors; /* LAST_ERROR code -> name */
    uint32_t n_device_errors;
    uint32_t weight_banks;      /* weight sets on chip; 1: no bank registers */
    /* several tensors (0 / NULL: one input and one output tensor, described above) */
    uint32_t n_in_tensors, n_out_tensors;
    const nna_tensor_t *in_tensors, *out_tensors;
} nna_model_t;

/* ---- device handle ---- */

/* DMA-able work memory given to the driver: CPU pointer, the address the device uses, size.
 * Bare-metal: a static buffer (bus == (uintptr_t)cpu). Linux: a u-dma-buf mapping.
 * Simulation: memory inside the simulated DDR. */
typedef struct {
    void *cpu;
    uint64_t bus;
    size_t size;
} nna_mem_t;

typedef struct {
    const nna_model_t *model;
    nna_hal_t *hal;
    uintptr_t base;        /* accelerator s_axi_control base address */
    uintptr_t dma_base;    /* AXI DMA base (axi_stream only, else 0) */
    nna_mem_t mem;
    uint32_t timeout_us;   /* every wait (default NNA_DEFAULT_TIMEOUT_US) */
    uint32_t dma_max_bytes;/* largest DMA transfer (AXI DMA buffer length register width) */
    uint8_t use_irq;       /* wait for completion on the interrupt instead of polling */
    uint8_t weights_loaded;
    uint32_t last_device_error;  /* LAST_ERROR of the last start */
    uint32_t last_dma_status;    /* DMASR of the channel that failed */
    uint64_t last_start_us;      /* duration of the last start: write ap_start .. done seen */
    uint32_t active_bank;        /* weight banks: the bank the next batch runs on (nna_select_bank) */
    uint32_t run_bank;           /* the bank the current batch / load started with (ACTIVE_BANK of every start) */
    uint32_t banks_valid;        /* BANKS_VALID as last read: bit b = bank b holds good weights */
} nna_dev_t;

#define NNA_DEFAULT_TIMEOUT_US 1000000u
#define NNA_DEFAULT_DMA_MAX_BYTES ((1u << 14) - 1u) /* AXI DMA default c_sg_length_width = 14 */
/* Largest transfer of an AXI DMA whose buffer length registers are `bits` wide (8..26). The
 * block design's summary (<design>.json) records the width it builds (`dma_length_bits`). */
#define NNA_DMA_MAX_BYTES_FOR_BITS(bits) ((uint32_t)((1ull << (bits)) - 1u))

/* Vitis HLS ap_ctrl_hs control register bits (CTRL) and interrupt bits (IER/ISR). */
#define NNA_CTRL_AP_START 0x01u
#define NNA_CTRL_AP_DONE 0x02u
#define NNA_CTRL_AP_IDLE 0x04u
#define NNA_CTRL_AP_READY 0x08u
#define NNA_CTRL_AUTO_RESTART 0x80u
#define NNA_IRQ_AP_DONE 0x01u
#define NNA_IRQ_AP_READY 0x02u

const char *nna_strerror(int status);
const char *nna_device_error_name(const nna_model_t *model, uint32_t code);

/* Identify the IP: one probe start (COMMAND 0, which the IP answers with BAD_COMMAND and
 * nothing else) fills the read-back registers; then IDENT and FINGERPRINT must match `model`.
 * `mem` may be NULL for axi_lite with embedded weights. For axi_stream `dma_base` is the AXI
 * DMA (simple mode) whose MM2S feeds in_stream and whose S2MM takes out_stream. */
int nna_init(nna_dev_t *dev, const nna_model_t *model, nna_hal_t *hal, uintptr_t base, uintptr_t dma_base,
             const nna_mem_t *mem);
void nna_set_timeout(nna_dev_t *dev, uint32_t timeout_us);
/* axi_stream: the largest transfer the AXI DMA takes (NNA_DMA_MAX_BYTES_FOR_BITS(dma_length_bits)
 * of the block design); batches are split to fit it. 0 restores NNA_DEFAULT_DMA_MAX_BYTES, the
 * AXI DMA's default 14-bit width. Call after nna_init. */
int nna_set_dma_max_bytes(nna_dev_t *dev, uint32_t max_bytes);
/* Completion by interrupt (GIE + IER ap_done; the HAL waits on the IRQ line) or by polling. */
int nna_enable_irq(nna_dev_t *dev, int enable);

/* Checks a weight image against the model without touching any device:
 * length, magic, version, fingerprint, encoding, bus width, payload length, value count, CRC-32. */
int nna_check_image(const nna_model_t *model, const void *image, size_t len);
/* nna_check_image, then (only if it passed) DMA the image and run LOAD_WEIGHTS.
 * A header the core refuses (NNA_ERR_DEVICE) leaves the previous weights loaded. A payload the core
 * reads with a wrong CRC-32 (NNA_ERR_DEVICE_CRC) leaves it with none: the core cleared WEIGHTS_VALID
 * before overwriting them, so every predict fails with NNA_ERR_NO_WEIGHTS until a load succeeds. */
int nna_load_weights(nna_dev_t *dev, const void *image, size_t len);
/* nna_load_weights into weight bank `bank` (NNA_ERR_BANK if the IP has no such bank). A load into a
 * bank other than the active one leaves the active weights in use; a CRC failure the core detects
 * (NNA_ERR_DEVICE_CRC) invalidates only `bank`. nna_load_weights loads the active bank. */
int nna_load_weights_bank(nna_dev_t *dev, const void *image, size_t len, uint32_t bank);
/* The next batch runs on `bank`; NNA_ERR_BANK (nothing changed) unless the device's BANKS_VALID
 * shows a good load in it. A batch already running finishes on its own bank. */
int nna_select_bank(nna_dev_t *dev, uint32_t bank);

/* Raw words in the IP's input/output word types (model->in_word / out_word), n_samples of them.
 * Batches are split to fit the work memory, the DMA length limit or lite_max_batch. */
int nna_predict(nna_dev_t *dev, const void *in_words, void *out_words, uint32_t n_samples);
/* Float in, float out: encodes to the input word type and decodes the outputs. */
int nna_predict_f32(nna_dev_t *dev, const float *in, float *out, uint32_t n_samples);
/* Several tensors (any model; a single-tensor one takes one pointer a side): in_words[i] holds
 * n_samples samples of input tensor i (model->in_tensors[i].n_values words each), out_words[j]
 * receives output tensor j's. nna_predict/_f32 on a multi-tensor model take and give each
 * sample's tensors end to end instead (model->in_tensors[i].offset). */
int nna_predict_tensors(nna_dev_t *dev, const void *const *in_words, void *const *out_words, uint32_t n_samples);
int nna_predict_tensors_f32(nna_dev_t *dev, const float *const *in, float *const *out, uint32_t n_samples);

/* Reads STATUS / LAST_ERROR / SAMPLES_DONE as left by the last start. */
int nna_read_status(nna_dev_t *dev, uint32_t *status, uint32_t *last_error, uint32_t *samples_done);

/* Concurrent users: nna_init, nna_enable_irq, nna_load_weights, nna_predict(_f32) and
 * nna_read_status each hold the HAL's lock (Linux: flock on the UIO node), so processes sharing
 * the device cannot interleave a load with a run. nna_lock / nna_unlock hold it across several
 * calls (e.g. a load and the predicts that must use those weights); they nest. One nna_dev_t
 * and HAL handle per thread: threads sharing one handle are not serialised by flock. */
int nna_lock(nna_dev_t *dev);
void nna_unlock(nna_dev_t *dev);

/* Word encoding (float <-> raw words), exposed for applications and tests. */
void nna_encode_words(const nna_word_t *w, const float *src, void *dst, size_t count);
void nna_decode_words(const nna_word_t *w, const void *src, float *dst, size_t count);

uint32_t nna_crc32(uint32_t crc, const void *data, size_t len);

#ifdef __cplusplus
}
#endif
#endif
