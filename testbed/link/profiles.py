"""Link profiles: every knob of the radio / latency / loss model in one frozen dataclass.

A profile is read from ``testbed/conf/link/<name>.yaml`` with :func:`load_profile`. The YAML is flat (one
key per :class:`LinkProfile` field) and strict: an unknown key is an error that names the key and the
file; every value is checked by :meth:`LinkProfile.validate`, whose errors name the key and the value
(:class:`LinkError`, a ``ValueError``). A profile file may start with ``extends: <other profile>`` to
inherit every key of another profile and change only a few.

Units: dB / dBm / dBi, metres, milliseconds (latency knobs, ``*_ms``), seconds (``outages`` times),
GHz / MHz / kHz as the names say. Probabilities are per packet.

The Gilbert-Elliott loss model is parameterised as a function of SINR (see
:meth:`LinkProfile.ge_p_good_to_bad`):

    p_good->bad(sinr) = ge_p_gb_min + (ge_p_gb_max - ge_p_gb_min) / (1 + exp((sinr - ge_sinr_knee_db) / ge_sinr_scale_db))

i.e. it rises from ``ge_p_gb_min`` (high SINR) to ``ge_p_gb_max`` (low SINR) around the knee;
``p_bad->good = ge_p_bg`` (constant); in the good state a packet is lost with ``ge_loss_good``, in the
bad state with ``ge_loss_bad``. Below ``outage_sinr_db`` the link is down (every packet lost).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


class LinkError(ValueError):
    """A bad link profile: names the key, the value and the problem."""


@dataclass(frozen=True)
class Carrier:
    """A carrier preset: what the radio model and the throughput tables need."""

    name: str
    technology: str  # "NR" or "LTE"
    fc_ghz: float  # centre frequency (downlink)
    bandwidth_mhz: float  # channel bandwidth
    scs_khz: float  # subcarrier spacing
    duplex: str  # "TDD" or "FDD"
    max_layers: int  # max MIMO layers (downlink)
    n_prb: int  # resource blocks in the channel (TS 38.101-1 Table 5.3.2-1 / TS 36.101 Table 5.6-1)
    tdd_dl_fraction: float  # share of time for downlink (1.0 for FDD); n78: DDDSU ~ 0.74
    overhead: float  # control/reference-signal overhead fraction (TS 38.306 4.1.2: 0.14 FR1 DL)

    @property
    def slot_ms(self) -> float:
        """Slot duration: 1 ms at 15 kHz, 0.5 ms at 30 kHz (14 OFDM symbols)."""
        return 15.0 / self.scs_khz


# Presets. Frequencies are the downlink centres rounded to the band's usual German deployment:
# n78 3.5 GHz 100 MHz TDD 30 kHz (273 PRB); n28 700 MHz 10 MHz FDD 15 kHz (52 PRB);
# LTE band 20 (800 MHz) 10 MHz (50 PRB); LTE band 3 (1800 MHz) 20 MHz (100 PRB).
CARRIERS: dict[str, Carrier] = {
    "n78": Carrier("n78", "NR", 3.5, 100.0, 30.0, "TDD", 4, 273, 0.74, 0.14),
    "n28": Carrier("n28", "NR", 0.7, 10.0, 15.0, "FDD", 2, 52, 1.0, 0.14),
    "lte800": Carrier("lte800", "LTE", 0.8, 10.0, 15.0, "FDD", 2, 50, 1.0, 0.25),
    "lte1800": Carrier("lte1800", "LTE", 1.8, 20.0, 15.0, "FDD", 2, 100, 1.0, 0.25),
}

SCENARIOS = ("UMa", "UMi", "RMa")
BACKHAULS = ("edge", "cloud")


@dataclass(frozen=True)
class LinkProfile:
    """All parameters of the link model. Frozen; build with :func:`load_profile` or directly, then
    :meth:`validate` (``load_profile`` validates)."""

    name: str = "custom"
    description: str = ""
    ideal: bool = False  # no latency, no loss, no outages (radio maps are still computable)

    # --- radio -----------------------------------------------------------------------------------
    carrier: str = "n78"  # key of CARRIERS
    scenario: str = "UMa"  # TR 38.901 scenario: UMa, UMi (street canyon), RMa
    tx_power_dbm: float = 46.0  # per sector, total over the channel bandwidth
    antenna_gain_dbi: float = 8.0  # sector antenna boresight gain
    antenna_beamwidth_deg: float = 65.0  # horizontal 3 dB beamwidth (TR 38.901 Table 7.3-1)
    antenna_max_att_db: float = 30.0  # front-to-back / max attenuation A_max
    ship_antenna_height_m: float = 6.0
    ship_antenna_gain_dbi: float = 0.0
    noise_figure_db: float = 7.0  # ship receiver
    cell_load: float = 0.5  # 0..1: share of the other cells' power that interferes; also queueing
    shadow_fading: bool = True
    bridge_blockage: bool = True
    bridge_blockage_m: float = 30.0  # points within this distance of a bridge deck axis are NLOS
    bridge_extra_loss_db: float = 0.0  # extra loss on top of NLOS for blocked points
    rsrp_floor_dbm: float = -140.0  # received power below this is clipped (numerical floor)

    # --- handover (A3 event) ---------------------------------------------------------------------
    handover_a3_offset_db: float = 3.0
    handover_hysteresis_db: float = 1.0
    handover_ttt_ms: float = 160.0  # time-to-trigger
    handover_interruption_ms: float = 30.0  # user-plane interruption during the handover

    # --- latency -----------------------------------------------------------------------------------
    slot_ms: float = 0.5  # air-interface slot (0.5 ms at 30 kHz SCS)
    scheduling_ms: float = 1.0  # mean scheduling delay (grant / SR / TDD pattern wait)
    harq_rtt_ms: float = 4.0  # HARQ round trip, added per retransmission
    harq_max_tx: int = 4  # max HARQ transmissions (1 = no retransmission)
    bler_target: float = 0.1  # first-transmission block error rate target
    backhaul: str = "edge"  # "edge" or "cloud": which transport+core latency applies
    edge_latency_ms: float = 2.0  # transport + core + server, mean (one way)
    edge_jitter_ms: float = 0.5  # std of the above
    cloud_latency_ms: float = 15.0
    cloud_jitter_ms: float = 4.0
    queueing_ms: float = 1.0  # M/M/1 scale: mean queueing = queueing_ms * rho / (1 - rho), rho = min(cell_load, 0.95)

    # --- loss: Gilbert-Elliott as a function of SINR (see module docstring) ------------------------
    ge_sinr_knee_db: float = 0.0
    ge_sinr_scale_db: float = 2.0
    ge_p_gb_min: float = 0.001
    ge_p_gb_max: float = 0.2
    ge_p_bg: float = 0.3
    ge_loss_good: float = 0.0
    ge_loss_bad: float = 0.5
    outage_sinr_db: float = -6.0  # below this SINR the link is down

    # --- scheduled coverage holes: ((x_m, y_m, radius_m, t_start_s, t_end_s), ...) ---------------
    outages: tuple = ()

    # ----------------------------------------------------------------------------------------------
    @property
    def carrier_spec(self) -> Carrier:
        return CARRIERS[self.carrier]

    @property
    def noise_dbm(self) -> float:
        """Thermal noise over the channel: -174 dBm/Hz + 10 log10(BW Hz) + NF."""
        return -174.0 + 10.0 * math.log10(self.carrier_spec.bandwidth_mhz * 1e6) + self.noise_figure_db

    @property
    def backhaul_latency_ms(self) -> tuple[float, float]:
        """(mean, jitter std) of the transport+core latency of the chosen backhaul."""
        if self.backhaul == "edge":
            return self.edge_latency_ms, self.edge_jitter_ms
        return self.cloud_latency_ms, self.cloud_jitter_ms

    def ge_p_good_to_bad(self, sinr_db):
        """Gilbert-Elliott good->bad transition probability per packet at ``sinr_db`` (vectorised)."""
        s = np.asarray(sinr_db, dtype=np.float64)
        z = np.clip((s - self.ge_sinr_knee_db) / self.ge_sinr_scale_db, -60.0, 60.0)
        return self.ge_p_gb_min + (self.ge_p_gb_max - self.ge_p_gb_min) / (1.0 + np.exp(z))

    def ge_p_bad_to_good(self, sinr_db):
        """Gilbert-Elliott bad->good transition probability per packet (constant ``ge_p_bg``)."""
        return np.full(np.shape(sinr_db), self.ge_p_bg, dtype=np.float64)

    def outages_array(self) -> np.ndarray:
        """The scheduled holes as a float64 (n, 5) array [x, y, radius, t_start, t_end]."""
        return np.asarray(self.outages, dtype=np.float64).reshape(-1, 5)

    def in_outage(self, xy, t_s: float):
        """Boolean per point: inside a scheduled hole active at episode time ``t_s``."""
        p = np.atleast_2d(np.asarray(xy, dtype=np.float64))
        out = np.zeros(len(p), dtype=bool)
        for x, y, r, t0, t1 in self.outages_array():
            if t0 <= t_s < t1:
                out |= (p[:, 0] - x) ** 2 + (p[:, 1] - y) ** 2 <= r * r
        return out

    RADIO_KEYS = (
        "carrier", "scenario", "tx_power_dbm", "antenna_gain_dbi", "antenna_beamwidth_deg",
        "antenna_max_att_db", "ship_antenna_height_m", "ship_antenna_gain_dbi", "shadow_fading",
        "bridge_blockage", "bridge_blockage_m", "bridge_extra_loss_db", "rsrp_floor_dbm",
    )

    def radio_key(self) -> str:
        """Hash of the parameters that determine the received-power rasters (not load/noise)."""
        d = {k: getattr(self, k) for k in self.RADIO_KEYS}
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["outages"] = [list(o) for o in self.outages]
        return d

    def replace(self, **changes) -> LinkProfile:
        """A validated copy with ``changes`` (unknown keys are errors)."""
        return _build(self.to_dict(), changes, source="replace()")

    def validate(self) -> LinkProfile:
        """Check every value; raise :class:`LinkError` naming the key and the value. Returns self."""
        def bad(key, why):
            raise LinkError(f"link profile {self.name!r}: {key}={getattr(self, key)!r}: {why}")

        def num(key, lo=-math.inf, hi=math.inf, lo_open=False, hi_open=False, integer=False):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                bad(key, "must be a number")
            if integer and int(v) != v:
                bad(key, "must be an integer")
            if not math.isfinite(v):
                bad(key, "must be finite")
            if v < lo or (lo_open and v == lo) or v > hi or (hi_open and v == hi):
                bad(key, f"must be in {'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}")

        for key in ("name", "description"):
            if not isinstance(getattr(self, key), str):
                bad(key, "must be a string")
        if not self.name:
            bad("name", "must not be empty")
        for key in ("ideal", "shadow_fading", "bridge_blockage"):
            if not isinstance(getattr(self, key), bool):
                bad(key, "must be true or false")
        if self.carrier not in CARRIERS:
            bad("carrier", f"unknown carrier; one of {sorted(CARRIERS)}")
        if self.scenario not in SCENARIOS:
            bad("scenario", f"unknown scenario; one of {list(SCENARIOS)}")
        if self.backhaul not in BACKHAULS:
            bad("backhaul", f"must be one of {list(BACKHAULS)}")
        num("tx_power_dbm", -30.0, 80.0)
        num("antenna_gain_dbi", -10.0, 30.0)
        num("antenna_beamwidth_deg", 0.0, 360.0, lo_open=True)
        num("antenna_max_att_db", 0.0, 60.0)
        num("ship_antenna_height_m", 1.0, 30.0)  # TR 38.901 h_UT range is 1.5..22.5 m (checked in radio)
        num("ship_antenna_gain_dbi", -10.0, 20.0)
        num("noise_figure_db", 0.0, 20.0)
        num("cell_load", 0.0, 1.0)
        num("bridge_blockage_m", 0.0, 1000.0)
        num("bridge_extra_loss_db", 0.0, 100.0)
        num("rsrp_floor_dbm", -250.0, -60.0)
        num("handover_a3_offset_db", -20.0, 20.0)
        num("handover_hysteresis_db", 0.0, 20.0)
        num("handover_ttt_ms", 0.0, 10000.0)
        num("handover_interruption_ms", 0.0, 10000.0)
        num("slot_ms", 0.0, 10.0, lo_open=True)
        num("scheduling_ms", 0.0, 1000.0)
        num("harq_rtt_ms", 0.0, 1000.0)
        num("harq_max_tx", 1, 32, integer=True)
        num("bler_target", 0.0, 1.0, hi_open=True)
        for key in ("edge_latency_ms", "edge_jitter_ms", "cloud_latency_ms", "cloud_jitter_ms", "queueing_ms"):
            num(key, 0.0, 100000.0)
        num("ge_sinr_knee_db", -50.0, 50.0)
        num("ge_sinr_scale_db", 0.0, 50.0, lo_open=True)
        for key in ("ge_p_gb_min", "ge_p_gb_max", "ge_p_bg", "ge_loss_good", "ge_loss_bad"):
            num(key, 0.0, 1.0)
        if self.ge_p_gb_max < self.ge_p_gb_min:
            bad("ge_p_gb_max", f"must be >= ge_p_gb_min={self.ge_p_gb_min!r}")
        num("outage_sinr_db", -50.0, 50.0)
        if not isinstance(self.outages, tuple):
            bad("outages", "must be a list of [x_m, y_m, radius_m, t_start_s, t_end_s]")
        for i, o in enumerate(self.outages):
            ok = (isinstance(o, tuple) and len(o) == 5
                  and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in o))
            if not ok:
                raise LinkError(f"link profile {self.name!r}: outages[{i}]={o!r}: must be "
                                "[x_m, y_m, radius_m, t_start_s, t_end_s] (finite numbers)")
            if o[2] <= 0 or o[4] <= o[3] or o[3] < 0:
                raise LinkError(f"link profile {self.name!r}: outages[{i}]={list(o)!r}: need radius_m > 0 "
                                "and 0 <= t_start_s < t_end_s")
        return self


FIELDS = tuple(f.name for f in dataclasses.fields(LinkProfile))
_INT_FIELDS = {"harq_max_tx"}
_FLOAT_FIELDS = {f.name for f in dataclasses.fields(LinkProfile) if f.type in ("float", float)}


def conf_dir() -> Path:
    """The package's ``testbed/conf/link`` directory (package data, via importlib.resources)."""
    from testbed.conf import conf_dir as package_conf_dir

    return package_conf_dir("link")


def list_profiles() -> list[str]:
    """The shipped link profile names (``testbed/conf/link/*.yaml``); never empty in a sound install."""
    names = sorted(p.stem for p in conf_dir().glob("*.yaml")) if conf_dir().is_dir() else []
    if not names:
        raise LinkError(f"no link profiles found in {conf_dir()}: the package data testbed/conf/link is missing "
                        "(reinstall the package)")
    return names


def _coerce(key: str, value: Any, source: str) -> Any:
    if key == "outages":
        if value is None:
            return ()
        if not isinstance(value, (list, tuple)):
            raise LinkError(f"{source}: outages={value!r}: must be a list of [x_m, y_m, radius_m, t_start_s, t_end_s]")
        out = []
        for i, o in enumerate(value):
            if not isinstance(o, (list, tuple)):
                raise LinkError(f"{source}: outages[{i}]={o!r}: must be [x_m, y_m, radius_m, t_start_s, t_end_s]")
            out.append(tuple(float(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in o))
        return tuple(out)
    if key in _FLOAT_FIELDS and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if key in _INT_FIELDS and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _build(base: Mapping[str, Any], changes: Mapping[str, Any], source: str) -> LinkProfile:
    d = dict(base)
    for key, value in changes.items():
        if key not in FIELDS:
            raise LinkError(f"{source}: unknown key {key!r} (value {value!r}); known keys: {', '.join(FIELDS)}")
        d[key] = _coerce(key, value, source)
    d["outages"] = _coerce("outages", d.get("outages", ()), source)
    return LinkProfile(**d).validate()


def _read_yaml(path: Path, seen: tuple = ()) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise LinkError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise LinkError(f"{path}: expected a mapping of profile keys, got {type(data).__name__}")
    for key, value in data.items():
        if key != "extends" and key not in FIELDS:
            raise LinkError(f"{path}: unknown key {key!r} (value {value!r}); known keys: {', '.join(FIELDS)}")
    parent = data.pop("extends", None)
    if parent is not None:
        ppath = _resolve(str(parent))
        if ppath in seen:
            raise LinkError(f"{path}: extends={parent!r}: circular")
        base = _read_yaml(ppath, seen + (path,))
        base.update(data)
        data = base
    return data


def _resolve(name_or_path: str) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or os.sep in name_or_path:
        if not p.is_file():
            raise LinkError(f"link profile file {str(p)!r} not found")
        return p.resolve()
    p = conf_dir() / f"{name_or_path}.yaml"
    if not p.is_file():
        raise LinkError(f"link profile {name_or_path!r} not found in {conf_dir()} (have: {', '.join(list_profiles())})")
    return p.resolve()


def load_profile(name_or_path: str | os.PathLike, overrides: Mapping[str, Any] | None = None) -> LinkProfile:
    """Read ``testbed/conf/link/<name>.yaml`` (or a YAML path), apply ``overrides`` and validate.

    Unknown keys (in the file or in ``overrides``) are :class:`LinkError`s naming the key and the file.
    ``name`` defaults to the file's stem.
    """
    path = _resolve(os.fspath(name_or_path))
    data = _read_yaml(path)
    data.setdefault("name", path.stem)
    base = {f: getattr(LinkProfile(), f) for f in FIELDS}
    src = str(path)
    prof = _build(base, data, source=src)
    if overrides:
        prof = _build(prof.to_dict(), dict(overrides), source=f"{src} (overrides)")
    return prof


__all__ = ["CARRIERS", "Carrier", "LinkError", "LinkProfile", "SCENARIOS", "BACKHAULS", "load_profile",
           "list_profiles", "conf_dir", "FIELDS"]
