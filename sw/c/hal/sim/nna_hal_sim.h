/* HAL backend for the simulated device (sw/sim): host builds, tests, `make demo`. */
#ifndef NNA_HAL_SIM_H_
#define NNA_HAL_SIM_H_

#include "nna.h"
#include "nna_simdev.h"

#ifdef __cplusplus
extern "C" {
#endif

struct nna_hal {
    nna_sim_t *sim;
    int lock_fd;               /* nna_hal_sim_lock_file, -1 without one */
    unsigned lock_depth;
};

/* Default bus layout of the simulated SoC (any values work; these look like a ZynqMP's). */
#define NNA_SIM_ACCEL_BASE 0xA0000000u
#define NNA_SIM_DMA_BASE 0xA0010000u
#define NNA_SIM_DDR_BASE 0x10000000u
#define NNA_SIM_DDR_SIZE (64u << 20)

/* A simulated-device configuration from a generated model description. */
void nna_hal_sim_config(nna_sim_config_t *cfg, const nna_model_t *model);
/* Create the simulated device running `csim_library` and bind `hal` to it. */
int nna_hal_sim_open(nna_hal_t *hal, const nna_model_t *model, const char *csim_library);
void nna_hal_sim_close(nna_hal_t *hal);
/* Serialise the users of this simulated device through an flock on `path` (created if
 * absent); without a lock file nna_hal_lock does nothing. NNA_OK or NNA_ERR_HAL. */
int nna_hal_sim_lock_file(nna_hal_t *hal, const char *path);
/* Work memory for the driver, carved out of the simulated DDR. */
int nna_hal_sim_mem(nna_hal_t *hal, size_t size, nna_mem_t *mem);

#ifdef __cplusplus
}
#endif
#endif
