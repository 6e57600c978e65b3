/* Self-test platform: the simulated device on the host.
 *   selftest CSIM_LIBRARY        (or NNA_CSIM_LIB=... selftest)
 * NNA_SELFTEST_IRQ=1 waits on the simulated interrupt; NNA_SIM_TRACE=1 logs register accesses. */
#include <stdio.h>
#include <stdlib.h>

#include "nna_hal_sim.h"
#include "selftest_platform.h"

static nna_hal_t sim_hal;

int selftest_platform_init(selftest_platform_t *p, const nna_model_t *model, size_t work_bytes, int argc,
                           char **argv) {
    const char *lib = argc > 1 ? argv[1] : getenv("NNA_CSIM_LIB");
    const char *irq = getenv("NNA_SELFTEST_IRQ");
    const char *trace = getenv("NNA_SIM_TRACE");
    if (lib == NULL) {
        ST_PRINTF("usage: %s CSIM_LIBRARY (the .so `nnaccel csim` builds), or set NNA_CSIM_LIB\n", argv[0]);
        return -1;
    }
    if (nna_hal_sim_open(&sim_hal, model, lib) != NNA_OK) {
        ST_PRINTF("simulated device: %s\n", nna_sim_create_error());
        return -1;
    }
    if (trace && *trace == '1') nna_sim_set_trace(sim_hal.sim, 1);
    p->hal = &sim_hal;
    p->base = NNA_SIM_ACCEL_BASE;
    p->dma_base = model->interface == NNA_IF_AXI_STREAM ? NNA_SIM_DMA_BASE : 0;
    p->dma_max_bytes = 0; /* the simulated DMA has the default 14-bit length registers */
    p->use_irq = irq && *irq == '1';
    p->name = "host simulation";
    if (nna_hal_sim_mem(&sim_hal, work_bytes, &p->mem) != NNA_OK) {
        ST_PRINTF("simulated device: no room for %lu bytes of work memory\n", (unsigned long)work_bytes);
        return -1;
    }
    return 0;
}

void selftest_platform_exit(selftest_platform_t *p) {
    (void)p;
    nna_hal_sim_close(&sim_hal);
}
