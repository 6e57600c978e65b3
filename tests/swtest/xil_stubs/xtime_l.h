#ifndef XTIME_L_H
#define XTIME_L_H
#include <stdint.h>
typedef uint64_t XTime;
#ifndef COUNTS_PER_SECOND /* tests set other counter frequencies with -D */
#define COUNTS_PER_SECOND 100000000u
#endif
void XTime_GetTime(XTime *Xtime_Global);
#endif
