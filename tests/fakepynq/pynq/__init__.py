"""A stand-in for PYNQ 3.x on a host, for tests only: the documented API surface the nn_accel
driver uses (Overlay, DefaultIP, allocate, Interrupt, MMIO, pynq.lib.dma.DMA), behaving as
PYNQ documents it, over a simulated board (_board.py) instead of a Zynq. Not PYNQ's code.

Differences from a board, on purpose: a "bitstream" is a JSON file naming, per block-design
cell, the IP directory and C-simulation library of the simulated device behind it (_board.py);
the .hwh beside it is parsed for the address map, VLNVs, parameters and interrupt pins, as
PYNQ does."""
from .buffer import PynqBuffer, allocate
from .device import Device
from .interrupt import Interrupt
from .mmio import MMIO
from .overlay import DefaultIP, Overlay, UnsupportedConfiguration

__all__ = ["Overlay", "DefaultIP", "allocate", "PynqBuffer", "Interrupt", "MMIO", "Device",
           "UnsupportedConfiguration"]
