/* AXI DMA (Xilinx PG021) in simple (direct register) mode: the registers the nn_accel
 * driver uses to feed an axi_stream accelerator. These are the DMA IP's own fixed offsets. */
#ifndef NNA_AXIDMA_H_
#define NNA_AXIDMA_H_

#define NNA_DMA_MM2S_DMACR 0x00u
#define NNA_DMA_MM2S_DMASR 0x04u
#define NNA_DMA_MM2S_SA 0x18u
#define NNA_DMA_MM2S_SA_MSB 0x1Cu
#define NNA_DMA_MM2S_LENGTH 0x28u
#define NNA_DMA_S2MM_DMACR 0x30u
#define NNA_DMA_S2MM_DMASR 0x34u
#define NNA_DMA_S2MM_DA 0x48u
#define NNA_DMA_S2MM_DA_MSB 0x4Cu
#define NNA_DMA_S2MM_LENGTH 0x58u

#define NNA_DMACR_RS 0x1u
#define NNA_DMACR_RESET 0x4u
#define NNA_DMACR_IOC_IRQ_EN 0x1000u
#define NNA_DMACR_ERR_IRQ_EN 0x4000u

#define NNA_DMASR_HALTED 0x1u
#define NNA_DMASR_IDLE 0x2u
#define NNA_DMASR_INT_ERR 0x10u
#define NNA_DMASR_SLV_ERR 0x20u
#define NNA_DMASR_DEC_ERR 0x40u
#define NNA_DMASR_ERR_MASK 0x70u
#define NNA_DMASR_IOC_IRQ 0x1000u
#define NNA_DMASR_ERR_IRQ 0x4000u

#endif
