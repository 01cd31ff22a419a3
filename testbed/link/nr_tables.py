"""TS 38.214 CQI/MCS tables and the SINR -> CQI -> spectral efficiency -> throughput mapping.

- :data:`CQI_TABLE_1`: TS 38.214 Table 5.2.2.1-2 (4-bit CQI table 1, up to 64QAM): CQI -> (modulation
  order Qm, code rate x 1024, spectral efficiency bit/RE). CQI 0 is "out of range".
- :data:`MCS_TABLE_1`: TS 38.214 Table 5.1.3.1-1 (MCS index table 1 for PDSCH): MCS -> (Qm, R x 1024,
  efficiency); 29..31 are reserved (retransmissions; efficiency NaN).
- :data:`CQI_SINR_THRESHOLDS_DB`: the lowest SINR at which each CQI 1..15 meets 10 % BLER. ASSUMPTION:
  these are the AWGN/SISO switching thresholds widely used in LTE/NR system-level studies (e.g.
  M. T. Kawser et al., "Downlink SNR to CQI Mapping for Different Multiple Antenna Techniques in LTE",
  IJIII 2012, Table 3; the same CQI table 1 entries are reused by NR): -6.7, -4.7, -2.3, 0.2, 2.4, 4.3,
  5.9, 8.1, 10.3, 11.7, 14.1, 16.3, 18.7, 21.0, 22.7 dB. Below -6.7 dB CQI = 0 (no transmission).
- Rank (MIMO layers) from SINR: 1 layer below 5 dB, 2 below 15 dB, 3 below 20 dB, else 4; capped by the
  carrier's ``max_layers`` (:data:`RANK_SINR_THRESHOLDS_DB`, an assumption of this model, no standard).

Throughput (TS 38.306 4.1.2 form, per carrier, downlink):

    rate = layers * eff(CQI) * 12 * N_PRB * 14 / T_slot * (1 - overhead) * dl_fraction * (1 - BLER_target) * share

with ``T_slot = 1 ms * 15 kHz / SCS``; ``overhead`` and ``dl_fraction`` (TDD DL share) from the
carrier preset; ``share`` the fraction of the resources the ship gets (1 = alone in the cell).
"""

from __future__ import annotations

import numpy as np

from testbed.link.profiles import CARRIERS, LinkProfile

# CQI: (Qm, R x 1024, efficiency) -- TS 38.214 Table 5.2.2.1-2
CQI_TABLE_1 = np.array([
    (0, 0, 0.0),
    (2, 78, 0.1523), (2, 120, 0.2344), (2, 193, 0.3770), (2, 308, 0.6016), (2, 449, 0.8770),
    (2, 602, 1.1758), (4, 378, 1.4766), (4, 490, 1.9141), (4, 616, 2.4063), (6, 466, 2.7305),
    (6, 567, 3.3223), (6, 666, 3.9023), (6, 772, 4.5234), (6, 873, 5.1152), (6, 948, 5.5547),
], dtype=np.float64)

# MCS: (Qm, R x 1024, efficiency) -- TS 38.214 Table 5.1.3.1-1
MCS_TABLE_1 = np.array([
    (2, 120, 0.2344), (2, 157, 0.3066), (2, 193, 0.3770), (2, 251, 0.4902), (2, 308, 0.6016),
    (2, 379, 0.7402), (2, 449, 0.8770), (2, 526, 1.0273), (2, 602, 1.1758), (2, 679, 1.3262),
    (4, 340, 1.3281), (4, 378, 1.4766), (4, 434, 1.6953), (4, 490, 1.9141), (4, 553, 2.1602),
    (4, 616, 2.4063), (4, 658, 2.5703), (6, 438, 2.5664), (6, 466, 2.7305), (6, 517, 3.0293),
    (6, 567, 3.3223), (6, 616, 3.6094), (6, 666, 3.9023), (6, 719, 4.2129), (6, 772, 4.5234),
    (6, 822, 4.8164), (6, 873, 5.1152), (6, 910, 5.3320), (6, 948, 5.5547),
    (2, np.nan, np.nan), (4, np.nan, np.nan), (6, np.nan, np.nan),  # reserved
], dtype=np.float64)

CQI_SINR_THRESHOLDS_DB = np.array([-6.7, -4.7, -2.3, 0.2, 2.4, 4.3, 5.9, 8.1, 10.3, 11.7, 14.1, 16.3, 18.7,
                                   21.0, 22.7])
RANK_SINR_THRESHOLDS_DB = np.array([5.0, 15.0, 20.0])  # 1 -> 2 -> 3 -> 4 layers


def sinr_to_cqi(sinr_db) -> np.ndarray:
    """CQI 0..15 (int64) for 10 % BLER at ``sinr_db`` (vectorised; NaN -> 0)."""
    s = np.nan_to_num(np.asarray(sinr_db, dtype=np.float64), nan=-np.inf)
    return np.searchsorted(CQI_SINR_THRESHOLDS_DB, s, side="right").astype(np.int64)


def cqi_efficiency(cqi) -> np.ndarray:
    """Spectral efficiency [bit/RE] of CQI table 1."""
    return CQI_TABLE_1[np.asarray(cqi, dtype=np.int64), 2]


def cqi_to_mcs(cqi) -> np.ndarray:
    """Highest MCS (table 1) whose efficiency does not exceed the CQI's (at least MCS 0); -1 for CQI 0."""
    eff = cqi_efficiency(cqi)
    m = np.searchsorted(MCS_TABLE_1[:29, 2], eff, side="right") - 1
    return np.where(np.asarray(cqi) == 0, -1, np.maximum(m, 0)).astype(np.int64)


def rank_layers(sinr_db, max_layers: int) -> np.ndarray:
    """MIMO layers used at ``sinr_db`` (see module docstring), capped at ``max_layers``."""
    s = np.nan_to_num(np.asarray(sinr_db, dtype=np.float64), nan=-np.inf)
    return np.minimum(1 + np.searchsorted(RANK_SINR_THRESHOLDS_DB, s, side="right"), int(max_layers))


def spectral_efficiency(sinr_db) -> np.ndarray:
    """Per-layer spectral efficiency [bit/RE] at ``sinr_db`` (CQI table 1)."""
    return cqi_efficiency(sinr_to_cqi(sinr_db))


def throughput_mbps(sinr_db, profile: LinkProfile, share: float = 1.0) -> np.ndarray:
    """Downlink throughput [Mbit/s] of the profile's carrier at ``sinr_db`` (vectorised); ``share`` is
    the fraction of the cell's resources given to the ship. ``profile.ideal`` does not change it."""
    car = CARRIERS[profile.carrier]
    s = np.asarray(sinr_db, dtype=np.float64)
    eff = spectral_efficiency(s)
    layers = rank_layers(s, car.max_layers)
    re_per_s = 12.0 * car.n_prb * 14.0 / (car.slot_ms * 1e-3)
    bps = (layers * eff * re_per_s * (1.0 - car.overhead) * car.tdd_dl_fraction * (1.0 - profile.bler_target)
           * float(share))
    return bps / 1e6


def peak_throughput_mbps(profile: LinkProfile) -> float:
    """Throughput at CQI 15 with the carrier's max layers."""
    return float(throughput_mbps(np.array([99.0]), profile)[0])


__all__ = ["CQI_TABLE_1", "MCS_TABLE_1", "CQI_SINR_THRESHOLDS_DB", "sinr_to_cqi", "cqi_efficiency", "cqi_to_mcs",
           "rank_layers", "spectral_efficiency", "throughput_mbps", "peak_throughput_mbps"]
