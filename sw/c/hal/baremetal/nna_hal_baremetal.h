/* HAL backend for the Xilinx standalone BSP (Vitis bare-metal, Cortex-A53 / Cortex-A9 / R5).
 * Physical = virtual: any buffer in DDR is DMA-able; caches are cleaned / invalidated by range. */
#ifndef NNA_HAL_BAREMETAL_H_
#define NNA_HAL_BAREMETAL_H_

#include "nna.h"

#ifdef __cplusplus
extern "C" {
#endif

struct nna_hal {
    volatile uint32_t irq_pending; /* set by nna_hal_baremetal_irq_handler */
    uintptr_t isr_addr;            /* accelerator ISR register, acknowledged in the handler */
};

/* Fill `hal`; `accel_base` + the model's ISR offset is acknowledged by the interrupt handler. */
void nna_hal_baremetal_init(nna_hal_t *hal, const nna_model_t *model, uintptr_t accel_base);

/* Connect this to the accelerator's interrupt in the GIC (XScuGic_Connect(&gic, IRQ_ID,
 * nna_hal_baremetal_irq_handler, hal)); then nna_enable_irq(&dev, 1). The level interrupt is
 * acknowledged here (ISR toggle-on-write) so it does not fire again before the driver runs. */
void nna_hal_baremetal_irq_handler(void *hal);

#ifdef __cplusplus
}
#endif
#endif
