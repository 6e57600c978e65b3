/* HAL backend for Linux user space: the accelerator (and the AXI DMA for axi_stream) bound to
 * generic-uio by the device-tree overlay nnaccel writes, work memory from u-dma-buf
 * (https://github.com/ikwzm/udmabuf), opened O_SYNC so no cache maintenance is needed. */
#ifndef NNA_HAL_LINUX_H_
#define NNA_HAL_LINUX_H_

#include "nna.h"

#ifdef __cplusplus
extern "C" {
#endif

struct nna_hal {
    int uio_fd;                /* accelerator: registers + interrupt */
    volatile uint8_t *regs;
    size_t regs_size;
    uintptr_t regs_phys;
    int dma_fd;                /* AXI DMA (axi_stream), -1 when absent */
    volatile uint8_t *dma_regs;
    size_t dma_size;
    uintptr_t dma_phys;
    int buf_fd;                /* u-dma-buf, -1 when absent */
    uint8_t *buf;
    size_t buf_size;
    uint64_t buf_phys;
    char error[256];
    unsigned lock_depth;       /* nna_hal_lock nesting: flock(uio_fd) while > 0 */
};

/* `accel_uio` / `dma_uio`: a UIO device name as in /sys/class/uio/uioN/name (the DT node name,
 * e.g. "nn_accel") or a /dev/uioN path; `dma_uio` may be NULL. `udmabuf`: e.g. "udmabuf0" or
 * NULL. On failure returns NNA_ERR_HAL with the reason in hal->error. */
int nna_hal_linux_open(nna_hal_t *hal, const char *accel_uio, const char *dma_uio, const char *udmabuf);
void nna_hal_linux_close(nna_hal_t *hal);
/* The `base` / `dma_base` values to pass to nna_init (the physical addresses of the maps). */
uintptr_t nna_hal_linux_accel_base(const nna_hal_t *hal);
uintptr_t nna_hal_linux_dma_base(const nna_hal_t *hal);
/* The whole u-dma-buf as the driver's work memory. */
int nna_hal_linux_mem(nna_hal_t *hal, nna_mem_t *mem);

#ifdef __cplusplus
}
#endif
#endif
