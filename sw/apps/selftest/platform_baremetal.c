/* Self-test platform: Vitis standalone application (Zynq-7000 / Zynq UltraScale+).
 * The Vitis script (nnaccel's vitis_app.py / xsct_app.tcl) defines the addresses from the
 * block design: -DNNA_ACCEL_BASEADDR=0x... and, for axi_stream, -DNNA_DMA_BASEADDR=0x... and
 * -DNNA_DMA_LENGTH_BITS=N (the AXI DMA's buffer length register width, `dma_length_bits`). */
#include "nna_hal_baremetal.h"
#include "selftest_platform.h"

#ifndef NNA_ACCEL_BASEADDR
#error "define NNA_ACCEL_BASEADDR (the accelerator's s_axi_control address in the block design)"
#endif
#ifndef NNA_DMA_BASEADDR
#define NNA_DMA_BASEADDR 0
#endif
#ifdef NNA_DMA_LENGTH_BITS
#define DMA_MAX_BYTES NNA_DMA_MAX_BYTES_FOR_BITS(NNA_DMA_LENGTH_BITS)
#else
#define DMA_MAX_BYTES 0u /* the driver's default: the AXI DMA's default 14 bits */
#endif
#ifndef NNA_WORK_BYTES
#define NNA_WORK_BYTES (1u << 20)
#endif

static nna_hal_t bm_hal;
static uint8_t work[NNA_WORK_BYTES] __attribute__((aligned(64)));

int selftest_platform_init(selftest_platform_t *p, const nna_model_t *model, size_t work_bytes, int argc,
                           char **argv) {
    (void)argc;
    (void)argv;
    if (work_bytes > sizeof work) {
        ST_PRINTF("work memory: %u bytes needed, NNA_WORK_BYTES is %u\r\n", (unsigned)work_bytes,
                  (unsigned)sizeof work);
        return -1;
    }
    nna_hal_baremetal_init(&bm_hal, model, (uintptr_t)NNA_ACCEL_BASEADDR);
    p->hal = &bm_hal;
    p->base = (uintptr_t)NNA_ACCEL_BASEADDR;
    p->dma_base = (uintptr_t)NNA_DMA_BASEADDR;
    p->dma_max_bytes = DMA_MAX_BYTES;
    p->mem.cpu = work;
    p->mem.bus = (uint64_t)(uintptr_t)work;
    p->mem.size = sizeof work;
    p->use_irq = 0; /* polling: the self-test does not own the interrupt controller */
    p->name = "bare-metal";
    return 0;
}

void selftest_platform_exit(selftest_platform_t *p) { (void)p; }
