/* What the self-test needs from the platform it runs on: a HAL, the accelerator's (and its
 * DMA's) base address, DMA-able work memory, a console. Implementations:
 *   platform_baremetal.c  Vitis standalone application (addresses from -D flags the Vitis
 *                         script sets from the block design, static work memory)
 *   platform_sim.c        host build against the simulated device (sw/sim) */
#ifndef SELFTEST_PLATFORM_H_
#define SELFTEST_PLATFORM_H_

#include "nna.h"

#if defined(NNA_BAREMETAL)
#include "xil_printf.h"
#define ST_PRINTF xil_printf
#else
#include <stdio.h>
#define ST_PRINTF printf
#endif

typedef struct {
    nna_hal_t *hal;
    uintptr_t base;
    uintptr_t dma_base;
    nna_mem_t mem;
    uint32_t dma_max_bytes; /* axi_stream: the AXI DMA's transfer limit; 0 keeps the driver default */
    int use_irq;
    const char *name; /* printed in the banner */
} selftest_platform_t;

/* 0 on success; otherwise the platform printed why. */
int selftest_platform_init(selftest_platform_t *p, const nna_model_t *model, size_t work_bytes, int argc,
                           char **argv);
void selftest_platform_exit(selftest_platform_t *p);

#endif
