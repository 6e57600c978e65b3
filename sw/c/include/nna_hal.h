/* Hardware-access layer of the nn_accel driver. Exactly one backend is linked into a program:
 *   hal/baremetal  Xilinx standalone BSP: Xil_In32/Xil_Out32, Xil_DCache*Range, XTime
 *   hal/linux      UIO register mappings + u-dma-buf work memory, poll() on the UIO fd
 *   hal/sim        the simulated device of sw/sim (host tests, `make demo`)
 * Each backend defines `struct nna_hal` itself; the driver only passes the pointer around. */
#ifndef NNA_HAL_H_
#define NNA_HAL_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nna_hal nna_hal_t;

uint32_t nna_hal_read32(nna_hal_t *hal, uintptr_t base, uint32_t offset);
void nna_hal_write32(nna_hal_t *hal, uintptr_t base, uint32_t offset, uint32_t value);

/* Monotonic time in microseconds (used for every timeout and for the timings reported). */
uint64_t nna_hal_time_us(nna_hal_t *hal);

/* Make CPU writes visible to the device / device writes visible to the CPU. */
void nna_hal_flush(nna_hal_t *hal, const void *cpu, size_t len);
void nna_hal_invalidate(nna_hal_t *hal, void *cpu, size_t len);

/* Bus address of a CPU buffer the device can read directly; returns 0 when it cannot
 * (then the driver copies through its work memory). */
int nna_hal_bus_addr(nna_hal_t *hal, const void *cpu, size_t len, uint64_t *bus);

/* Wait until the accelerator's interrupt line is raised or timeout_us passes.
 * Returns 1 on interrupt, 0 on timeout, negative on failure / not supported. */
int nna_hal_wait_irq(nna_hal_t *hal, uint32_t timeout_us);

/* Short pause between polls (may do nothing). */
void nna_hal_relax(nna_hal_t *hal);

/* Exclusive use of the device by this handle (another process or handle waits), reentrant:
 * Linux flocks the UIO node, the simulation a lock file if one was given, bare metal does
 * nothing. Returns 0, or negative when the lock cannot be taken. */
int nna_hal_lock(nna_hal_t *hal);
void nna_hal_unlock(nna_hal_t *hal);

#ifdef __cplusplus
}
#endif
#endif
