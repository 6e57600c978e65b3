"""nn_accel board-side driver (numpy only; pynq on a board).

    nnaccel_driver.pynq_driver   PYNQ: NnAccelOverlay, the DefaultIP subclass bound to nnaccel:hls:* VLNVs
    nnaccel_driver.hwh           what the driver reads from the .hwh beside the bitstream
    nnaccel_driver.sim           the same driver against the simulated device (host)
    nnaccel_driver.Accelerator   the driver itself, over any register port + allocator
"""
from .core import Accelerator, Buffer
from .description import Description, Word, load as load_description
from .errors import (AccelTimeoutError, BankError, BusyError, CsimCrashed, DeviceError, DeviceNoWeightsError, DmaError,
                     DriverError, IdentError, ImageError, InputShapeError, NoWeightsError, WeightsCrcError)
from .image import check_image
from .words import decode, encode

__version__ = "0.1.0"
__all__ = ["Accelerator", "Buffer", "Description", "Word", "load_description", "AccelTimeoutError", "BankError", "BusyError",
           "CsimCrashed", "DeviceError", "DeviceNoWeightsError", "DmaError", "DriverError", "IdentError", "ImageError",
           "InputShapeError", "NoWeightsError", "WeightsCrcError", "check_image",
           "encode", "decode"]
