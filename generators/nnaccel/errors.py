"""Errors a user can cause. Each carries one readable line; the CLI and the
generators print it and exit non-zero instead of showing a traceback."""


class NnaccelError(Exception):
    """A user-facing error: one readable line."""


def one_line(text) -> str:
    """A message as one line, whatever it quotes (a path or value with a line break in it)."""
    return str(text).replace("\r", "\\r").replace("\n", "\\n")


class ConfigError(NnaccelError):
    """The configuration names an unknown key, a bad value or an unsupported combination."""


class ModelError(NnaccelError):
    """The model file is missing, unreadable or uses something hls4ml cannot convert."""


class ImageError(NnaccelError):
    """A weight image does not match its header or the IP's layout."""


class LayoutError(NnaccelError):
    """A model's weight variables do not match the IP's layout."""


class InputError(NnaccelError):
    """Input data has the wrong shape or type."""


class OutputError(NnaccelError):
    """An output path is unsafe to write (it holds someone else's files, or the inputs) or cannot be written."""


class CsimCrash(NnaccelError):
    """Compiled model code (C-simulation, hls4ml's reference) aborted, crashed or gave untrustworthy
    outputs; the caller's process lives on (the code ran in a worker process)."""


class CsimTimeout(CsimCrash):
    """Compiled model code did not finish within its time allowance (an endless loop?)."""
