"""Driver errors: one readable line each, with the failing step named."""


class DriverError(Exception):
    """Base class of every error the nn_accel driver raises."""


class ImageError(DriverError):
    """The weight image is malformed or belongs to another layout; nothing was written to the device."""


class IdentError(DriverError):
    """The device at this address is not the accelerator the description says."""


class DeviceError(DriverError):
    """The accelerator finished a start with a non-zero LAST_ERROR."""

    def __init__(self, message: str, code: int, name: str):
        super().__init__(message)
        self.code = code
        self.name = name


class NoWeightsError(DriverError):
    """The accelerator holds no valid weights: load_weights() first. Raised before any start when
    the driver knows it, and as DeviceNoWeightsError when the device answers a RUN with NO_WEIGHTS."""


class DeviceNoWeightsError(DeviceError, NoWeightsError):
    """The device answered a RUN with LAST_ERROR NO_WEIGHTS."""


class WeightsCrcError(DeviceError):
    """The device read a weight payload whose CRC-32 differs from the header's (LAST_ERROR BAD_CRC):
    the image changed in memory after the driver checked it. The device cleared WEIGHTS_VALID
    before overwriting its weights, so it now has none: load a good image before the next predict."""


class BankError(DriverError, ValueError):
    """A weight bank the IP does not have, or (select_bank) one without valid weights: nothing was
    changed. `bank` is the index asked for, `banks_valid` the device's BANKS_VALID mask."""

    def __init__(self, message: str, bank: int, banks_valid: int):
        super().__init__(message)
        self.bank = bank
        self.banks_valid = banks_valid


class DmaError(DriverError):
    """The AXI DMA reported an error (DMASR error bits)."""


class AccelTimeoutError(DriverError, TimeoutError):
    """The core or the DMA did not finish within the timeout."""


class BusyError(DriverError):
    """The core is not idle: an earlier start never finished."""


class InputShapeError(DriverError, ValueError):
    """Input data has the wrong shape or dtype."""


class CsimCrashed(DriverError):
    """Simulation only: the accelerator's C-simulation (the model's C++) aborted, crashed or hung
    in its worker process; this process goes on, and the next start gets a fresh worker."""
