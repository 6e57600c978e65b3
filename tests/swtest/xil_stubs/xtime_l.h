#ifndef XTIME_L_H
#define XTIME_L_H
#include <stdint.h>
typedef uint64_t XTime;
#define COUNTS_PER_SECOND 100000000u
void XTime_GetTime(XTime *Xtime_Global);
#endif
