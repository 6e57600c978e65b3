"""pynq.Device: the active device, with the loaded bitstream's name and IP dictionary."""


class Device:
    active_device = None

    def __init__(self):
        self.bitfile_name = None
        self.ip_dict = {}

    def set_bitfile_name(self, name) -> None:
        self.bitfile_name = str(name)


Device.active_device = Device()
