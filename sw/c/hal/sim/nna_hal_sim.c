/* HAL backend: the simulated device. Registers and DDR are the simulator's; time is the
 * host's monotonic clock, so timeouts are real time. */
#define _POSIX_C_SOURCE 200809L
#include "nna_hal_sim.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

uint32_t nna_hal_read32(nna_hal_t *hal, uintptr_t base, uint32_t offset) {
    return nna_sim_read32(hal->sim, (uint64_t)base + offset);
}

void nna_hal_write32(nna_hal_t *hal, uintptr_t base, uint32_t offset, uint32_t value) {
    nna_sim_write32(hal->sim, (uint64_t)base + offset, value);
}

uint64_t nna_hal_time_us(nna_hal_t *hal) {
    struct timespec ts;
    (void)hal;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The simulated DDR is host memory: coherent by construction. */
void nna_hal_flush(nna_hal_t *hal, const void *cpu, size_t len) { (void)hal; (void)cpu; (void)len; }
void nna_hal_invalidate(nna_hal_t *hal, void *cpu, size_t len) { (void)hal; (void)cpu; (void)len; }

int nna_hal_bus_addr(nna_hal_t *hal, const void *cpu, size_t len, uint64_t *bus) {
    return nna_sim_ddr_addr(hal->sim, cpu, len, bus);
}

int nna_hal_wait_irq(nna_hal_t *hal, uint32_t timeout_us) {
    uint64_t t0 = nna_hal_time_us(hal);
    while (!nna_sim_irq(hal->sim)) /* each query advances the simulated device by one tick */
        if (nna_hal_time_us(hal) - t0 > timeout_us) return 0;
    return 1;
}

void nna_hal_relax(nna_hal_t *hal) { (void)hal; }

int nna_hal_lock(nna_hal_t *hal) {
    if (hal == NULL) return -1;
    if (hal->lock_depth == 0 && hal->lock_fd >= 0) {
        int r;
        while ((r = flock(hal->lock_fd, LOCK_EX)) != 0 && errno == EINTR) {
        }
        if (r != 0) return -1;
    }
    hal->lock_depth++;
    return 0;
}

void nna_hal_unlock(nna_hal_t *hal) {
    if (hal == NULL || hal->lock_depth == 0) return;
    if (--hal->lock_depth == 0 && hal->lock_fd >= 0) flock(hal->lock_fd, LOCK_UN);
}

int nna_hal_sim_lock_file(nna_hal_t *hal, const char *path) {
    if (hal == NULL || path == NULL) return NNA_ERR_ARG;
    if (hal->lock_fd >= 0) close(hal->lock_fd);
    hal->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    return hal->lock_fd >= 0 ? NNA_OK : NNA_ERR_HAL;
}

void nna_hal_sim_config(nna_sim_config_t *c, const nna_model_t *m) {
    const nna_regmap_t *r = &m->regs;
    memset(c, 0, sizeof *c);
    c->interface = m->interface;
    c->external_weights = m->external_weights;
    c->n_inputs = m->n_inputs;
    c->n_outputs = m->n_outputs;
    c->in_bytes = m->in_word.bytes;
    c->out_bytes = m->out_word.bytes;
    c->lite_max_batch = m->lite_max_batch;
    c->cmd_load_weights = m->cmd_load_weights;
    c->cmd_run = m->cmd_run;
    c->status_weights_valid = m->status_weights_valid;
    c->reg_ctrl = r->ctrl;
    c->reg_gie = r->gie;
    c->reg_ier = r->ier;
    c->reg_isr = r->isr;
    c->reg_command = r->command;
    c->reg_n_samples = r->n_samples;
    c->reg_in_addr = r->in_addr;
    c->reg_out_addr = r->out_addr;
    c->reg_weights_addr = r->weights_addr;
    c->reg_status = r->status;
    c->reg_last_error = r->last_error;
    c->reg_fingerprint = r->fingerprint;
    c->reg_ident = r->ident;
    c->reg_samples_done = r->samples_done;
    c->reg_in_buf = r->in_buf;
    c->reg_out_buf = r->out_buf;
    c->address_range = r->address_range;
    if (m->weight_banks > 1) {
        c->reg_load_bank = r->load_bank;
        c->reg_active_bank = r->active_bank;
        c->reg_banks_valid = r->banks_valid;
    }
    c->accel_base = NNA_SIM_ACCEL_BASE;
    c->dma_base = NNA_SIM_DMA_BASE;
    c->ddr_base = NNA_SIM_DDR_BASE;
    c->ddr_size = NNA_SIM_DDR_SIZE;
    if (m->n_in_tensors > 1 || m->n_out_tensors > 1) { /* several tensors: their sizes, registers, windows */
        uint32_t t;
        c->n_in_tensors = m->n_in_tensors > 1 ? m->n_in_tensors : 1u;
        c->n_out_tensors = m->n_out_tensors > 1 ? m->n_out_tensors : 1u;
        for (t = 0; t < c->n_in_tensors && t < NNA_SIM_MAX_TENSORS; t++) {
            c->in_sizes[t] = m->n_in_tensors > 1 ? m->in_tensors[t].n_values : m->n_inputs;
            c->reg_in_addrs[t] = m->n_in_tensors > 1 ? m->in_tensors[t].addr_reg : r->in_addr;
            c->reg_in_bufs[t] = m->n_in_tensors > 1 ? m->in_tensors[t].lite_buf : r->in_buf;
        }
        for (t = 0; t < c->n_out_tensors && t < NNA_SIM_MAX_TENSORS; t++) {
            c->out_sizes[t] = m->n_out_tensors > 1 ? m->out_tensors[t].n_values : m->n_outputs;
            c->reg_out_addrs[t] = m->n_out_tensors > 1 ? m->out_tensors[t].addr_reg : r->out_addr;
            c->reg_out_bufs[t] = m->n_out_tensors > 1 ? m->out_tensors[t].lite_buf : r->out_buf;
        }
    }
}

int nna_hal_sim_open(nna_hal_t *hal, const nna_model_t *model, const char *csim_library) {
    nna_sim_config_t cfg;
    if (hal == NULL || model == NULL || csim_library == NULL) return NNA_ERR_ARG;
    hal->lock_fd = -1;
    hal->lock_depth = 0;
    nna_hal_sim_config(&cfg, model);
    hal->sim = nna_sim_create(&cfg, csim_library);
    return hal->sim ? NNA_OK : NNA_ERR_HAL;
}

void nna_hal_sim_close(nna_hal_t *hal) {
    if (hal && hal->sim) nna_sim_destroy(hal->sim);
    if (hal && hal->lock_fd >= 0) close(hal->lock_fd);
    if (hal) {
        hal->sim = NULL;
        hal->lock_fd = -1;
    }
}

int nna_hal_sim_mem(nna_hal_t *hal, size_t size, nna_mem_t *mem) {
    uint64_t a = nna_sim_ddr_alloc(hal->sim, size, 64);
    if (a == 0) return NNA_ERR_MEM_SMALL;
    mem->bus = a;
    mem->cpu = nna_sim_ddr_ptr(hal->sim, a, size);
    mem->size = size;
    return NNA_OK;
}
