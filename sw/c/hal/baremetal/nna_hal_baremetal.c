/* HAL backend: Xilinx standalone BSP. */
#include "nna_hal_baremetal.h"

#include "xil_cache.h"
#include "xil_io.h"
#include "xil_types.h"
#include "xtime_l.h"

uint32_t nna_hal_read32(nna_hal_t *hal, uintptr_t base, uint32_t offset) {
    (void)hal;
    return Xil_In32((UINTPTR)(base + offset));
}

void nna_hal_write32(nna_hal_t *hal, uintptr_t base, uint32_t offset, uint32_t value) {
    (void)hal;
    Xil_Out32((UINTPTR)(base + offset), value);
}

uint64_t nna_hal_time_us(nna_hal_t *hal) {
    XTime t;
    (void)hal;
    const uint64_t cps = (uint64_t)COUNTS_PER_SECOND;
    XTime_GetTime(&t);
    /* t * 10^6 / cps, exact for any counter frequency (dividing by cps / 10^6 is not, and is a
     * division by zero under 1 MHz); split so t * 10^6 cannot overflow: (t % cps) * 10^6 stays
     * below 2^64 for any cps under 1.8e13 Hz */
    return (uint64_t)t / cps * 1000000u + (uint64_t)t % cps * 1000000u / cps;
}

void nna_hal_flush(nna_hal_t *hal, const void *cpu, size_t len) {
    (void)hal;
    Xil_DCacheFlushRange((INTPTR)cpu, (INTPTR)len);
}

void nna_hal_invalidate(nna_hal_t *hal, void *cpu, size_t len) {
    (void)hal;
    Xil_DCacheInvalidateRange((INTPTR)cpu, (INTPTR)len);
}

int nna_hal_bus_addr(nna_hal_t *hal, const void *cpu, size_t len, uint64_t *bus) {
    (void)hal;
    (void)len;
    *bus = (uint64_t)(uintptr_t)cpu; /* no MMU translation in the standalone BSP */
    return 1;
}

int nna_hal_wait_irq(nna_hal_t *hal, uint32_t timeout_us) {
    uint64_t t0 = nna_hal_time_us(hal);
    while (!hal->irq_pending)
        if (nna_hal_time_us(hal) - t0 > timeout_us) return 0;
    hal->irq_pending = 0;
    return 1;
}

void nna_hal_relax(nna_hal_t *hal) { (void)hal; }

/* One program owns the device: nothing to serialise. */
int nna_hal_lock(nna_hal_t *hal) {
    (void)hal;
    return 0;
}
void nna_hal_unlock(nna_hal_t *hal) { (void)hal; }

void nna_hal_baremetal_init(nna_hal_t *hal, const nna_model_t *model, uintptr_t accel_base) {
    hal->irq_pending = 0;
    hal->isr_addr = accel_base + model->regs.isr;
}

void nna_hal_baremetal_irq_handler(void *ctx) {
    nna_hal_t *hal = (nna_hal_t *)ctx;
    uint32_t isr = Xil_In32((UINTPTR)hal->isr_addr);
    Xil_Out32((UINTPTR)hal->isr_addr, isr); /* toggle-on-write clears exactly what was set */
    hal->irq_pending = 1;
}
