/* Declarations-only stand-ins for the Xilinx standalone BSP headers, so the tests can compile
 * the bare-metal HAL and self-test (types and signatures as the BSP declares them). */
#ifndef XIL_TYPES_H
#define XIL_TYPES_H
#include <stdint.h>
typedef uintptr_t UINTPTR;
typedef intptr_t INTPTR;
typedef uint32_t u32;
#endif
