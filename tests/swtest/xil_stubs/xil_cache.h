#ifndef XIL_CACHE_H
#define XIL_CACHE_H
#include "xil_types.h"
void Xil_DCacheFlushRange(INTPTR adr, INTPTR len);
void Xil_DCacheInvalidateRange(INTPTR adr, INTPTR len);
#endif
