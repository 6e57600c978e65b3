/* Test HAL backend: the bus of a simulated device served by swtest/shared_device.py over a
 * Unix socket, so several processes drive ONE device (tests/test_concurrency.py). Work memory
 * is a local buffer that flush / invalidate copy to / from the device's DDR. The lock is an
 * flock on a lock file, as in hal/sim (nna_hal_sim_lock_file). */
#ifndef NNA_HAL_REMOTE_H_
#define NNA_HAL_REMOTE_H_

#include "nna.h"

/* the simulated SoC's bus layout (hal/sim, nnaccel_driver.sim) */
#define NNA_REMOTE_ACCEL_BASE 0xA0000000u
#define NNA_REMOTE_DMA_BASE 0xA0010000u

struct nna_hal {
    int sock;
    int lock_fd; /* -1: no lock file (the test's control) */
    unsigned lock_depth;
    uint8_t *mem_cpu;
    uint64_t mem_bus;
    size_t mem_size;
};

/* lock_path NULL: no inter-process lock. Returns NNA_OK or NNA_ERR_HAL. */
int nna_hal_remote_open(nna_hal_t *hal, const char *socket_path, const char *lock_path);
/* `size` bytes of device DDR mirrored by a local 64-byte aligned buffer. */
int nna_hal_remote_mem(nna_hal_t *hal, size_t size, nna_mem_t *mem);

#endif
