"""Export a replay as AIS NMEA (``testbed replay FILE --export out.nmea``), e.g. for OpenCPN's VDR playback.

Conventions: the ego and every active traffic vessel, encoded with the project's AIS encoder
(:class:`testbed.ais.emit.AISEmitter`): ``!AIVDM`` type 1 position reports at the ITU-R M.1371 class A
intervals for each vessel's speed and turn, type 5 static data (and type 8 / FI 10 inland data) when a
vessel first appears and every 6 minutes; each sentence carries an NMEA 4.0 tag block ``\\c:<unix
time>*hh\\``. MMSIs and names are those of the header (``vessels``): the ego is 211999000, scripted
traffic 211999100 + slot, AIS-replayed traffic keeps its recorded MMSI. Unix time of frame 0 as in
the GeoJSON export. Positions are the vessels' midship points; COG/SOG over ground; headings true.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from atomicio import atomic_open
from testbed.replay import _tracks as tk
from testbed.replay.format import ReplayReader


def _static(v: dict):
    from testbed.ais.emit import AISStatic
    from vessels import catalogue

    try:
        vt = catalogue.get(v["type"])
        ship_type = vt.ais_types[0] if vt.ais_types else 79
        eri, draught = (vt.eri_codes[0] if vt.eri_codes else 8010), vt.T
    except (KeyError, ValueError):
        ship_type, eri, draught = 79, 8010, 0.0
    return AISStatic.from_dimensions(float(v["length_m"]), float(v["beam_m"]), name=str(v["name"])[:20].upper(),
                                     ship_type=ship_type, eri_code=eri, eni=None, draught_m=draught)  # fmt: skip


def export_nmea(path: str | Path, out: str | Path, every: int = 1) -> str:
    """Write ``out`` (atomically); returns a one-line summary."""
    from testbed.ais.emit import AISEmitter, AISVessel, state_to_ais

    with ReplayReader(path) as r:
        h = r.header
        frame = tk.local_frame(r)
        idx = tk.frame_index(r, every)
        t = r.times[idx]
        ego = tk.ego_ground(r, idx)
        tr = tk.traffic_ground(r, idx)
        t0 = tk.epoch(r)
    n, T = tr["x"].shape if tr["x"].ndim == 2 else (len(t), 0)
    fe = state_to_ais(frame, ego["x"], ego["y"], ego["psi"], ego["sog"], ego["cog"], ego["r"])
    ft = state_to_ais(frame, tr["x"].ravel(), tr["y"].ravel(), tr["psi"].ravel(), tr["sog"].ravel(),
                      tr["cog"].ravel(), tr["r"].ravel())  # fmt: skip
    ft = {k: v.reshape(n, T) for k, v in ft.items()}
    vs = [h["vessels"]["ego"], *h["vessels"]["traffic"]]
    mmsi = [int(v["mmsi"]) for v in vs]
    statics = [_static(v) for v in vs]
    lines: list[str] = []
    em = AISEmitter(lines.append, epoch=t0)
    was = np.zeros(T, dtype=bool)
    for i in range(n):
        batch = [(0, {key: a[i] for key, a in fe.items()})]
        act = tr["active"][i] > 0
        for j in np.flatnonzero(was & ~act):
            em.forget(mmsi[j + 1])
        was = act
        for j in np.flatnonzero(act):
            batch.append((j + 1, {key: a[i, j] for key, a in ft.items()}))
        vessels = [AISVessel(mmsi=mmsi[k], lat=float(f["lat"]), lon=float(f["lon"]), sog_kn=float(f["sog_kn"]),
                             cog_deg=float(f["cog_deg"]), heading_deg=float(f["heading_deg"]),
                             rot_deg_min=float(f["rot_deg_min"]), nav_status=0 if f["sog_kn"] > 0.3 else 5,
                             static=statics[k]) for k, f in batch]  # fmt: skip
        em.emit(float(t[i]), vessels)
    with atomic_open(out, "w", newline="") as fh:
        fh.write("\r\n".join(lines) + ("\r\n" if lines else ""))
    c = em.counts
    return f"{len(lines)} sentences: {c[1]} position reports (type 1), {c[5]} static (type 5), {c[8]} inland (type 8)"
