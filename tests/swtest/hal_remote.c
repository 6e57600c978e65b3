/* See hal_remote.h; the protocol is shared_device.py's: <B op><Q addr><Q n> [+ n bytes]. */
#define _POSIX_C_SOURCE 200809L
#include "hal_remote.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int send_all(int s, const void *p, size_t n) {
    const uint8_t *b = (const uint8_t *)p;
    while (n) {
        ssize_t k = write(s, b, n);
        if (k <= 0) return -1;
        b += k;
        n -= (size_t)k;
    }
    return 0;
}

static int recv_all(int s, void *p, size_t n) {
    uint8_t *b = (uint8_t *)p;
    while (n) {
        ssize_t k = read(s, b, n);
        if (k <= 0) return -1;
        b += k;
        n -= (size_t)k;
    }
    return 0;
}

/* A broken connection ends the client: the test sees the exit status. */
static void call(nna_hal_t *hal, char op, uint64_t addr, uint64_t n, const void *payload, void *reply, size_t rlen) {
    uint8_t req[17];
    req[0] = (uint8_t)op;
    memcpy(req + 1, &addr, 8); /* little-endian host, as the server's struct format */
    memcpy(req + 9, &n, 8);
    if (send_all(hal->sock, req, sizeof req) != 0 || (payload && send_all(hal->sock, payload, (size_t)n) != 0) ||
        recv_all(hal->sock, reply, rlen) != 0)
        _exit(3);
}

uint32_t nna_hal_read32(nna_hal_t *hal, uintptr_t base, uint32_t offset) {
    uint32_t v;
    call(hal, 'R', (uint64_t)base + offset, 0, NULL, &v, 4);
    return v;
}

void nna_hal_write32(nna_hal_t *hal, uintptr_t base, uint32_t offset, uint32_t value) {
    uint32_t ack;
    call(hal, 'W', (uint64_t)base + offset, value, NULL, &ack, 4);
}

uint64_t nna_hal_time_us(nna_hal_t *hal) {
    struct timespec ts;
    (void)hal;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int in_mem(nna_hal_t *hal, const void *cpu, size_t len, uint64_t *bus) {
    const uint8_t *p = (const uint8_t *)cpu;
    if (hal->mem_cpu == NULL || p < hal->mem_cpu || len > hal->mem_size || (size_t)(p - hal->mem_cpu) > hal->mem_size - len)
        return 0;
    *bus = hal->mem_bus + (uint64_t)(p - hal->mem_cpu);
    return 1;
}

void nna_hal_flush(nna_hal_t *hal, const void *cpu, size_t len) {
    uint64_t bus;
    uint32_t ack;
    if (len && in_mem(hal, cpu, len, &bus)) call(hal, 'M', bus, len, cpu, &ack, 4);
}

void nna_hal_invalidate(nna_hal_t *hal, void *cpu, size_t len) {
    uint64_t bus;
    if (len && in_mem(hal, cpu, len, &bus)) call(hal, 'G', bus, len, NULL, cpu, len);
}

int nna_hal_bus_addr(nna_hal_t *hal, const void *cpu, size_t len, uint64_t *bus) { return in_mem(hal, cpu, len, bus); }

int nna_hal_wait_irq(nna_hal_t *hal, uint32_t timeout_us) {
    uint64_t t0 = nna_hal_time_us(hal);
    uint32_t line;
    for (;;) {
        call(hal, 'I', 0, 0, NULL, &line, 4);
        if (line) return 1;
        if (nna_hal_time_us(hal) - t0 > timeout_us) return 0;
    }
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

int nna_hal_remote_open(nna_hal_t *hal, const char *socket_path, const char *lock_path) {
    struct sockaddr_un sa;
    memset(hal, 0, sizeof *hal);
    hal->lock_fd = -1;
    hal->sock = socket(AF_UNIX, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    strncpy(sa.sun_path, socket_path, sizeof sa.sun_path - 1);
    if (hal->sock < 0 || connect(hal->sock, (struct sockaddr *)&sa, sizeof sa) != 0) return NNA_ERR_HAL;
    if (lock_path && (hal->lock_fd = open(lock_path, O_RDWR | O_CREAT, 0666)) < 0) return NNA_ERR_HAL;
    return NNA_OK;
}

int nna_hal_remote_mem(nna_hal_t *hal, size_t size, nna_mem_t *mem) {
    uint64_t bus;
    void *p = NULL;
    call(hal, 'A', 0, size, NULL, &bus, 8);
    if (bus == 0 || posix_memalign(&p, 64, size) != 0) return NNA_ERR_MEM_SMALL;
    memset(p, 0, size);
    hal->mem_cpu = (uint8_t *)p;
    hal->mem_bus = bus;
    hal->mem_size = size;
    mem->cpu = p;
    mem->bus = bus;
    mem->size = size;
    return NNA_OK;
}
