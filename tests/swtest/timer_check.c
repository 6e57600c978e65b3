/* nna_hal_time_us of the bare-metal HAL against a counter the test sets: prints
 * "<counts> <microseconds>" for every argument. Built with -DCOUNTS_PER_SECOND=... and the
 * declaration-only BSP stubs of xil_stubs/ (the definitions below). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "nna_hal_baremetal.h"
#include "xil_cache.h"
#include "xil_io.h"
#include "xtime_l.h"

static XTime now;
void XTime_GetTime(XTime *t) { *t = now; }
u32 Xil_In32(UINTPTR a) { (void)a; return 0; }
void Xil_Out32(UINTPTR a, u32 v) { (void)a; (void)v; }
void Xil_DCacheFlushRange(INTPTR a, INTPTR n) { (void)a; (void)n; }
void Xil_DCacheInvalidateRange(INTPTR a, INTPTR n) { (void)a; (void)n; }

int main(int argc, char **argv) {
    nna_hal_t hal;
    int i;
    for (i = 1; i < argc; i++) {
        now = (XTime)strtoull(argv[i], NULL, 0);
        printf("%" PRIu64 " %" PRIu64 "\n", (uint64_t)now, nna_hal_time_us(&hal));
    }
    return 0;
}
