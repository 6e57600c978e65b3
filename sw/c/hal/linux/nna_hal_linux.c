/* HAL backend: Linux user space (UIO + u-dma-buf). */
#define _POSIX_C_SOURCE 200809L
#include "nna_hal_linux.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static volatile uint8_t *map_for(nna_hal_t *hal, uintptr_t base) {
    return (hal->dma_regs && base == hal->dma_phys) ? hal->dma_regs : hal->regs;
}

uint32_t nna_hal_read32(nna_hal_t *hal, uintptr_t base, uint32_t offset) {
    return *(volatile uint32_t *)(map_for(hal, base) + offset);
}

void nna_hal_write32(nna_hal_t *hal, uintptr_t base, uint32_t offset, uint32_t value) {
    *(volatile uint32_t *)(map_for(hal, base) + offset) = value;
}

uint64_t nna_hal_time_us(nna_hal_t *hal) {
    struct timespec ts;
    (void)hal;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* u-dma-buf opened with O_SYNC is mapped uncached: nothing to maintain. */
void nna_hal_flush(nna_hal_t *hal, const void *cpu, size_t len) { (void)hal; (void)cpu; (void)len; }
void nna_hal_invalidate(nna_hal_t *hal, void *cpu, size_t len) { (void)hal; (void)cpu; (void)len; }

int nna_hal_bus_addr(nna_hal_t *hal, const void *cpu, size_t len, uint64_t *bus) {
    const uint8_t *p = (const uint8_t *)cpu;
    if (hal->buf == NULL || p < hal->buf || p > hal->buf + hal->buf_size || len > (size_t)(hal->buf + hal->buf_size - p))
        return 0;
    *bus = hal->buf_phys + (uint64_t)(p - hal->buf);
    return 1;
}

int nna_hal_wait_irq(nna_hal_t *hal, uint32_t timeout_us) {
    uint32_t one = 1, count;
    struct pollfd pfd;
    int r;
    /* uio_pdrv_genirq masks the line in its handler: unmask, then wait for the next count */
    if (write(hal->uio_fd, &one, sizeof one) != (ssize_t)sizeof one) return -1;
    pfd.fd = hal->uio_fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    r = poll(&pfd, 1, (int)((timeout_us + 999u) / 1000u));
    if (r < 0) return errno == EINTR ? 0 : -1;
    if (r == 0) return 0;
    if (read(hal->uio_fd, &count, sizeof count) != (ssize_t)sizeof count) return -1;
    return 1;
}

void nna_hal_relax(nna_hal_t *hal) { (void)hal; }

/* Advisory flock on the accelerator's UIO node: every process that opens it through this HAL
 * (and the Python driver, which flocks the same node) waits for the holder. */
int nna_hal_lock(nna_hal_t *hal) {
    if (hal == NULL || hal->uio_fd < 0) return -1;
    if (hal->lock_depth == 0) {
        int r;
        while ((r = flock(hal->uio_fd, LOCK_EX)) != 0 && errno == EINTR) {
        }
        if (r != 0) {
            snprintf(hal->error, sizeof hal->error, "cannot lock the UIO device: %s", strerror(errno));
            return -1;
        }
    }
    hal->lock_depth++;
    return 0;
}

void nna_hal_unlock(nna_hal_t *hal) {
    if (hal == NULL || hal->lock_depth == 0) return;
    if (--hal->lock_depth == 0) flock(hal->uio_fd, LOCK_UN);
}

static int read_sysfs(const char *path, char *out, size_t n) {
    FILE *f = fopen(path, "r");
    size_t k;
    if (f == NULL) return -1;
    k = fread(out, 1, n - 1, f);
    fclose(f);
    out[k] = '\0';
    while (k && (out[k - 1] == '\n' || out[k - 1] == ' ')) out[--k] = '\0';
    return 0;
}

/* /dev/uioN for a UIO name (or the path itself). */
static int find_uio(const char *name, char *dev, size_t n, int *index) {
    DIR *d;
    struct dirent *e;
    if (strncmp(name, "/dev/uio", 8) == 0) {
        snprintf(dev, n, "%s", name);
        *index = atoi(name + 8);
        return 0;
    }
    d = opendir("/sys/class/uio");
    if (d == NULL) return -1;
    while ((e = readdir(d)) != NULL) {
        char path[300], value[64];
        if (strncmp(e->d_name, "uio", 3) != 0) continue;
        snprintf(path, sizeof path, "/sys/class/uio/%s/name", e->d_name);
        if (read_sysfs(path, value, sizeof value) == 0 && strcmp(value, name) == 0) {
            snprintf(dev, n, "/dev/%s", e->d_name);
            *index = atoi(e->d_name + 3);
            closedir(d);
            return 0;
        }
    }
    closedir(d);
    return -1;
}

static int open_uio(nna_hal_t *hal, const char *name, int *fd, volatile uint8_t **map, size_t *size, uintptr_t *phys) {
    char dev[64], path[128], value[64];
    int index;
    void *p;
    if (find_uio(name, dev, sizeof dev, &index) != 0) {
        snprintf(hal->error, sizeof hal->error, "no UIO device named %.100s (is the overlay loaded?)", name);
        return -1;
    }
    snprintf(path, sizeof path, "/sys/class/uio/uio%d/maps/map0/size", index);
    if (read_sysfs(path, value, sizeof value) != 0) goto sysfs_fail;
    *size = (size_t)strtoull(value, NULL, 0);
    snprintf(path, sizeof path, "/sys/class/uio/uio%d/maps/map0/addr", index);
    if (read_sysfs(path, value, sizeof value) != 0) goto sysfs_fail;
    *phys = (uintptr_t)strtoull(value, NULL, 0);
    *fd = open(dev, O_RDWR | O_SYNC);
    if (*fd < 0) {
        snprintf(hal->error, sizeof hal->error, "cannot open %s: %s", dev, strerror(errno));
        return -1;
    }
    p = mmap(NULL, *size, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
    if (p == MAP_FAILED) {
        snprintf(hal->error, sizeof hal->error, "cannot map %s: %s", dev, strerror(errno));
        return -1;
    }
    *map = (volatile uint8_t *)p;
    return 0;
sysfs_fail:
    snprintf(hal->error, sizeof hal->error, "cannot read %s", path);
    return -1;
}

static int open_udmabuf(nna_hal_t *hal, const char *name) {
    char path[128], value[64];
    void *p;
    snprintf(path, sizeof path, "/sys/class/u-dma-buf/%s/phys_addr", name);
    if (read_sysfs(path, value, sizeof value) != 0) goto sysfs_fail;
    hal->buf_phys = strtoull(value, NULL, 0);
    snprintf(path, sizeof path, "/sys/class/u-dma-buf/%s/size", name);
    if (read_sysfs(path, value, sizeof value) != 0) goto sysfs_fail;
    hal->buf_size = (size_t)strtoull(value, NULL, 0);
    snprintf(path, sizeof path, "/dev/%s", name);
    hal->buf_fd = open(path, O_RDWR | O_SYNC);
    if (hal->buf_fd < 0) {
        snprintf(hal->error, sizeof hal->error, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    p = mmap(NULL, hal->buf_size, PROT_READ | PROT_WRITE, MAP_SHARED, hal->buf_fd, 0);
    if (p == MAP_FAILED) {
        snprintf(hal->error, sizeof hal->error, "cannot map %s: %s", path, strerror(errno));
        return -1;
    }
    hal->buf = (uint8_t *)p;
    return 0;
sysfs_fail:
    snprintf(hal->error, sizeof hal->error, "cannot read %s (is u-dma-buf loaded?)", path);
    return -1;
}

int nna_hal_linux_open(nna_hal_t *hal, const char *accel_uio, const char *dma_uio, const char *udmabuf) {
    memset(hal, 0, sizeof *hal);
    hal->uio_fd = hal->dma_fd = hal->buf_fd = -1;
    if (accel_uio == NULL) {
        snprintf(hal->error, sizeof hal->error, "no accelerator UIO device given");
        return NNA_ERR_ARG;
    }
    if (open_uio(hal, accel_uio, &hal->uio_fd, &hal->regs, &hal->regs_size, &hal->regs_phys) != 0 ||
        (dma_uio && open_uio(hal, dma_uio, &hal->dma_fd, &hal->dma_regs, &hal->dma_size, &hal->dma_phys) != 0) ||
        (udmabuf && open_udmabuf(hal, udmabuf) != 0)) {
        char why[sizeof hal->error];
        memcpy(why, hal->error, sizeof why);
        nna_hal_linux_close(hal);
        memcpy(hal->error, why, sizeof why);
        return NNA_ERR_HAL;
    }
    return NNA_OK;
}

void nna_hal_linux_close(nna_hal_t *hal) {
    if (hal->regs) munmap((void *)hal->regs, hal->regs_size);
    if (hal->dma_regs) munmap((void *)hal->dma_regs, hal->dma_size);
    if (hal->buf) munmap(hal->buf, hal->buf_size);
    if (hal->uio_fd >= 0) close(hal->uio_fd);
    if (hal->dma_fd >= 0) close(hal->dma_fd);
    if (hal->buf_fd >= 0) close(hal->buf_fd);
    memset(hal, 0, sizeof *hal);
    hal->uio_fd = hal->dma_fd = hal->buf_fd = -1;
}

uintptr_t nna_hal_linux_accel_base(const nna_hal_t *hal) { return hal->regs_phys; }
uintptr_t nna_hal_linux_dma_base(const nna_hal_t *hal) { return hal->dma_phys; }

int nna_hal_linux_mem(nna_hal_t *hal, nna_mem_t *mem) {
    if (hal->buf == NULL) return NNA_ERR_NO_BUS_ADDR;
    mem->cpu = hal->buf;
    mem->bus = hal->buf_phys;
    mem->size = hal->buf_size;
    return NNA_OK;
}
