"""pynq.lib: only the AXI DMA driver (pynq.lib.dma) is stood in for."""
from .dma import DMA  # noqa: F401  (registers the driver, as importing pynq.lib does)
