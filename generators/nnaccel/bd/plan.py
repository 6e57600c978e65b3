"""Decide everything the block design needs before any Tcl is written: the PL
clock, which PS port each AXI master uses, the control address map, the
interrupt lines. All errors a user can cause are raised here, naming the board."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..boards import Board
from ..errors import ConfigError
from .accel import Accel

# Cell names of the infrastructure the design adds around the accelerators.
PS_CELL, RESET_CELL, CTRL_SC, IRQ_CONCAT = "zynq_ps", "rst_pl", "ctrl_sc", "irq_concat"
DMA_LITE_RANGE = 0x10000
DMA_LENGTH_BITS = 26  # 64 MiB per transfer
DMA_BURST = 16


@dataclass
class HpPort:
    port: str            # PS slave interface, e.g. S_AXI_HP0_FPD
    sc: str              # SmartConnect cell in front of it
    clock_pin: str
    segment: str         # DDR segment behind it, e.g. SAXIGP2/HP0_DDR_LOW
    masters: list = field(default_factory=list)  # [(cell, interface, address space)]


def master_groups(a: Accel) -> list[tuple[str, list]]:
    """(role, [(cell, interface, address space)]) of each memory master group an accelerator
    brings; axi_stream data goes through an AXI DMA whose read and write masters stay together."""
    groups = []
    data = a.port("data")
    if data:
        groups.append(("data", [(a.name, data["name"], f"Data_{data['name']}")]))
    if a.port("data_in"):
        dma = f"{a.name}_dma"
        groups.append(("data", [(dma, "M_AXI_MM2S", "Data_MM2S"), (dma, "M_AXI_S2MM", "Data_S2MM")]))
    w = a.port("weights")
    if w:
        groups.append(("weights", [(a.name, w["name"], f"Data_{w['name']}")]))
    return groups


def pl_clock(board: Board, accels: list[Accel], requested: float | None) -> float:
    """The PL clock in MHz: as requested, else the slowest accelerator's synthesis clock."""
    slowest = min(1000.0 / a.desc["clock_period"] for a in accels)
    mhz = slowest if requested is None else requested
    if isinstance(mhz, bool) or not isinstance(mhz, (int, float)):
        raise ConfigError(f"pl_clock_mhz: {mhz!r} is not a frequency in MHz")
    lo, hi = board.pl_clock["min_mhz"], board.pl_clock["max_mhz"]
    if not lo <= mhz <= hi:
        raise ConfigError(f"board {board.name}: cannot make a {mhz:g} MHz PL clock; its PS makes "
                          f"{lo:g} to {hi:g} MHz")
    for a in accels:
        if mhz > 1000.0 / a.desc["clock_period"] * 1.001:
            raise ConfigError(f"pl_clock_mhz: {mhz:g} MHz is faster than accelerator {a.name} was synthesized for "
                              f"({1000.0 / a.desc['clock_period']:g} MHz, clock_period {a.desc['clock_period']} ns)")
    return round(float(mhz), 3)


def allocate_hp(board: Board, accels: list[Accel]) -> list[HpPort]:
    """Each memory master gets its own HP port while there are free ones; data masters may
    then share the least loaded port, a weights master needs a port of its own."""
    ports = [HpPort(port=p, sc=f"{_short(p)}_sc", clock_pin=board.ps.slave_ports[p]["clock_pin"],
                    segment=board.ps.slave_ports[p]["segment"]) for p in board.hp_ports]
    weights_ports: set[str] = set()
    for a in accels:
        for role, ms in master_groups(a):
            free = [p for p in ports if not p.masters]
            if free:
                free[0].masters.extend(ms)
                if role == "weights":
                    weights_ports.add(free[0].port)
                continue
            if role == "weights":
                raise ConfigError(f"board {board.name}: no free HP port for the weights port of accelerator "
                                  f"{a.name} (HP ports {', '.join(board.hp_ports)} are all in use); "
                                  "use weights: embedded or fewer accelerators")
            shared = [p for p in ports if p.port not in weights_ports]
            if not shared:
                raise ConfigError(f"board {board.name}: no HP port left for the data of accelerator {a.name} "
                                  f"(HP ports {', '.join(board.hp_ports)} all carry weights)")
            min(shared, key=lambda p: len(p.masters)).masters.extend(ms)
    return [p for p in ports if p.masters]


def _short(port: str) -> str:
    """S_AXI_HP0_FPD -> hp0, S_AXI_HP2 -> hp2 (cell-name friendly)."""
    return port.replace("S_AXI_", "").replace("_FPD", "").lower()


def _align(value: int, size: int) -> int:
    return (value + size - 1) // size * size


def control_map(board: Board, accels: list[Accel]) -> list[dict]:
    """Control slaves (accelerators, then their DMAs) packed from the control port's aperture base,
    each aligned to its own power-of-two range."""
    master = board.ps.master_ports[board.control_port]
    base, size = master["base"], master["size"]
    slaves = [(a.name, a.port("control")["name"], a.address_range, "accelerator", a.name) for a in accels]
    slaves += [(f"{a.name}_dma", "S_AXI_LITE", DMA_LITE_RANGE, "dma", a.name) for a in accels if a.port("data_in")]
    out, cursor = [], base
    for cell, intf, rng, kind, owner in slaves:
        off = _align(cursor, rng)
        if off + rng > base + size:
            raise ConfigError(f"board {board.name}: the control aperture of {board.control_port} "
                              f"(0x{base:X}, {size // 1024} KiB) cannot hold {len(slaves)} control ports")
        out.append({"cell": cell, "intf": intf, "segment": f"{cell}/{intf}/Reg", "offset": off, "range": rng,
                    "kind": kind, "accelerator": owner})
        cursor = off + rng
    return out


def make_plan(board: Board, accels: list[Accel], design: str, pl_clock_mhz: float | None = None) -> dict:
    ps = board.ps
    mhz = pl_clock(board, accels, pl_clock_mhz)
    hp = allocate_hp(board, accels)
    ctrl = control_map(board, accels)

    irqs = [(a.name, a.desc["interrupt"]) for a in accels]
    dmas = []
    for a in accels:
        if a.port("data_in"):
            dma = f"{a.name}_dma"
            dmas.append({"cell": dma, "accelerator": a.name, "in_width": a.port("data_in")["width"],
                         "out_width": a.port("data_out")["width"], "mem_width": board.hp_width,
                         "in_intf": a.port("data_in")["name"], "out_intf": a.port("data_out")["name"]})
            irqs += [(dma, "mm2s_introut"), (dma, "s2mm_introut")]
    if len(irqs) > ps.interrupt["width"]:
        raise ConfigError(f"board {board.name}: {len(irqs)} interrupt lines needed, the {ps.kind} takes "
                          f"{ps.interrupt['width']} from the PL")

    # PS configuration: clock, interrupts, the control master, the used HP ports; every other
    # PL port is switched off so no enabled port is left without a clock.
    props = {f: v for f, v in ps.clock["enable"].items()}
    props[ps.clock["freq_property"]] = mhz
    props.update(ps.interrupt["enable"])
    used_hp = {p.port for p in hp}
    for name, mp in ps.master_ports.items():
        props[mp["enable"]] = 1 if name == board.control_port else 0
    for name, sp in ps.slave_ports.items():
        props[sp["enable"]] = 1 if name in used_hp else 0
        if name in used_hp:
            props[sp["width_property"]] = board.hp_width

    ddr = []
    for p in hp:
        for cell, intf, space in p.masters:
            ddr.append({"space": f"{cell}/{space}", "segment": f"{PS_CELL}/{p.segment}",
                        "offset": board.ddr["base"], "range": board.ddr["size"]})

    return {
        "design": design, "board": board, "ps": ps, "ps_cell": PS_CELL, "reset_cell": RESET_CELL,
        "ctrl_sc": CTRL_SC, "irq_concat": IRQ_CONCAT, "pl_clock_mhz": mhz,
        "ps_props": sorted(props.items()), "control_port": board.control_port,
        "control_clock_pin": ps.master_ports[board.control_port]["clock_pin"],
        "accels": accels, "dmas": dmas, "hp": hp, "control": ctrl, "ddr": ddr, "irqs": irqs,
        "dma_length_bits": DMA_LENGTH_BITS, "dma_burst": DMA_BURST,
    }


def summary(plan: dict) -> dict:
    """The facts drivers and users need (JSON-friendly): addresses, ports, clock."""
    return {
        "schema": 1, "design": plan["design"], "board": plan["board"].name, "part": plan["board"].part,
        "pl_clock_mhz": plan["pl_clock_mhz"], "processor": plan["board"].processor, "uart": plan["board"].uart,
        "accelerators": [{"name": a.name, "vlnv": a.vlnv, "interface": a.desc["interface"],
                          "weights": a.desc["weights"], "ip_dir": f"ip/{a.name}",
                          "interrupt": next(i for i, irq in enumerate(plan["irqs"]) if irq[0] == a.name)}
                         for a in plan["accels"]],
        "control": [{k: c[k] for k in ("cell", "segment", "offset", "range", "kind", "accelerator")}
                    for c in plan["control"]],
        "dmas": [{"cell": d["cell"], "accelerator": d["accelerator"],
                  "interrupts": {"mm2s": plan["irqs"].index((d["cell"], "mm2s_introut")),
                                 "s2mm": plan["irqs"].index((d["cell"], "s2mm_introut"))}}
                 for d in plan["dmas"]],
        # width of the AXI DMAs' buffer length registers: one transfer moves at most 2^bits - 1 bytes
        "dma_length_bits": plan["dma_length_bits"],
        "hp_ports": [{"port": p.port, "masters": [f"{c}/{i}" for c, i, _ in p.masters]} for p in plan["hp"]],
    }
