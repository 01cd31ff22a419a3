"""AIS in and out of a running simulation: emit the simulated vessels, and feed live AIS into it.

- :func:`world_vessels` turns env ``e`` of a :class:`~testbed.world.World` (ego and active traffic) into
  :class:`~testbed.ais.emit.AISVessel` records, so that :class:`~testbed.ais.emit.AISEmitter` can send
  them (``testbed run ... --emit udp://HOST:PORT``): an ECDIS such as OpenCPN then shows the
  simulation live. Replayed vessels keep their recorded MMSI and name; scripted vessels and the ego get
  stable MMSIs of the testbed (``EGO_MMSI``, ``SCRIPTED_MMSI_BASE + slot``).
- :class:`LiveFeed` reads a live AIS stream (``udp://`` or ``tcp://``) in a background thread through
  the same :class:`~testbed.ais.ingest.AISIngestor` as files, and keeps the latest report and static
  data of every vessel. :func:`apply_live_traffic` places the live vessels (dead-reckoned from their
  last report to now) into the traffic slots of env 0 (shadow mode: the live vessels do not react).
"""

from __future__ import annotations

import math
import threading
import time

import numpy as np

from testbed.ais.emit import AISStatic, AISVessel, state_to_ais

EGO_MMSI = 211_999_000
SCRIPTED_MMSI_BASE = 211_999_100
LIVE_MODE = 2  # traffic mode of a vessel positioned from a live feed


def eni_for_mmsi(mmsi: int) -> str:
    """The 8-digit ENI (European vessel number) the testbed gives a simulated vessel: the MMSI's last 8
    digits. (Real ENIs start with a registry code, e.g. 04 Germany; these are synthetic but stable.)"""
    return f"{mmsi % 100_000_000:08d}"


def _static_for(type_id: str, name: str, length: float, beam: float, mmsi: int) -> AISStatic:
    from vessels import catalogue

    vt = catalogue.get(type_id)
    ship_type = vt.ais_types[0] if vt.ais_types else 79
    eri = vt.eri_codes[0] if vt.eri_codes else 8010
    # every vessel on the Rhine/Ruhr is an inland vessel: with an ENI, the emitter sends its FI 10 too
    return AISStatic.from_dimensions(length, beam, name=name[:20].upper(), ship_type=ship_type, eri_code=eri,
                                     eni=eni_for_mmsi(mmsi), draught_m=vt.T)  # fmt: skip


def world_vessels(world, e: int = 0) -> list[AISVessel]:
    """AIS records of the ego and the active traffic of env ``e``."""
    st = world.ego
    cur = world.ego_cur[e]
    gvx = st.u[e] * math.sin(st.psi[e]) + st.v[e] * math.cos(st.psi[e]) + cur[0]
    gvy = st.u[e] * math.cos(st.psi[e]) - st.v[e] * math.sin(st.psi[e]) + cur[1]
    tr = world.traffic
    T = tr.T
    idx = [e * T + j for j in range(T) if tr.active[e * T + j]]
    ts = tr.state
    xs = np.array([st.x[e], *ts.x[idx]])
    ys = np.array([st.y[e], *ts.y[idx]])
    hdg = np.array([st.psi[e], *ts.psi[idx]])
    vx = np.array([gvx, *(ts.u[idx] * np.sin(ts.psi[idx]) + tr.current[idx, 0])])
    vy = np.array([gvy, *(ts.u[idx] * np.cos(ts.psi[idx]) + tr.current[idx, 1])])
    rot = np.array([st.r[e], *ts.r[idx]])
    f = state_to_ais(world.map, xs, ys, hdg, np.hypot(vx, vy), np.arctan2(vx, vy), rot)
    out = []
    pk = tr.replay
    for n in range(len(xs)):
        if n == 0:
            mmsi, name = EGO_MMSI, "TESTBED EGO"
            static = _static_for(world.ego_type.id, name, float(world.ego_len[e]), float(world.ego_beam[e]),
                                 mmsi)
        else:
            i = idx[n - 1]
            if tr.mode[i] in (1, LIVE_MODE) or (tr.handed[i] and pk is not None):
                k = int(tr.track_of[i])
                mmsi = int(pk.mmsi[k]) if pk is not None and k >= 0 else int(tr.live_mmsi[i])
                name = pk.names[k] if pk is not None and k >= 0 else ""
            else:
                mmsi, name = SCRIPTED_MMSI_BASE + i, f"TRAFFIC {i}"
            static = _static_for(tr.type_ids[tr.type_index[i]], name or f"VESSEL {mmsi}", float(tr.length[i]),
                                 float(tr.beam[i]), mmsi)  # fmt: skip
        moving = f["sog_kn"][n] > 0.3
        out.append(AISVessel(mmsi=mmsi, lat=float(f["lat"][n]), lon=float(f["lon"][n]),
                             sog_kn=float(f["sog_kn"][n]), cog_deg=float(f["cog_deg"][n]),
                             heading_deg=float(f["heading_deg"][n]), rot_deg_min=float(f["rot_deg_min"][n]),
                             nav_status=0 if moving else 5, static=static))  # fmt: skip
    return out


class LiveFeed:
    """Latest AIS state per MMSI from a live ``udp://`` / ``tcp://`` source (background thread)."""

    def __init__(self, url: str, idle_timeout: float = 0.5) -> None:
        from testbed.ais.ingest import AISIngestor

        self.url = url
        self.ingestor = AISIngestor()
        self.positions: dict[int, tuple] = {}  # mmsi -> (wall time, lat, lon, sog, cog, heading)
        self.static: dict[int, dict] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(idle_timeout,), daemon=True)
        self.error: BaseException | None = None

    def start(self, wait_s: float = 5.0) -> LiveFeed:
        self._thread.start()
        self._ready.wait(wait_s)
        return self

    def _run(self, idle_timeout: float) -> None:
        try:
            for m in self.ingestor.iter_source(self.url, stop=self._stop, idle_timeout=idle_timeout,
                                               ready=self._ready):  # fmt: skip
                now = time.monotonic()
                with self._lock:
                    if m.kind == "position" and m.lat is not None and m.lon is not None:
                        self.positions[m.mmsi] = (now, m.lat, m.lon, m.sog or 0.0,
                                                  m.cog if m.cog is not None else math.nan,
                                                  m.heading if m.heading is not None else math.nan)  # fmt: skip
                    elif m.kind in ("static", "inland_static"):
                        d = self.static.setdefault(m.mmsi, {})
                        for k in ("name", "length", "beam", "ship_type", "eri_type"):
                            v = getattr(m, k, None)
                            if v is not None:
                                d[k] = v
        except BaseException as exc:  # reported to the caller, never silently lost
            self.error = exc
        finally:
            self._ready.set()

    def snapshot(self) -> tuple[dict, dict]:
        with self._lock:
            return dict(self.positions), {k: dict(v) for k, v in self.static.items()}

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)


def apply_live_traffic(world, feed: LiveFeed, max_age_s: float = 120.0) -> int:
    """Put the live vessels inside the map into env 0's traffic slots; returns how many are shown."""
    from vessels import catalogue

    positions, static = feed.snapshot()
    tr = world.traffic
    hmap = world.map
    frame = hmap.frame
    now = time.monotonic()
    rows = []
    for mmsi, (tw, lat, lon, sog, cog, hdg) in positions.items():
        age = now - tw
        if age > max_age_s:
            continue
        x, y = frame.to_local(lon, lat)
        c = frame.true_to_grid(cog) if math.isfinite(cog) else math.nan
        h = frame.true_to_grid(hdg) if math.isfinite(hdg) else c
        if math.isfinite(c):  # dead reckoning from the last report to now
            x, y = x + sog * age * math.sin(c), y + sog * age * math.cos(c)
        if not hmap.is_water(np.array([[x, y]]))[0]:
            continue
        d = math.hypot(x - world.ego.x[0], y - world.ego.y[0])
        rows.append((d, mmsi, float(x), float(y), h if math.isfinite(h) else 0.0, sog))
    rows.sort()
    T = tr.T
    for j in range(T):
        if j < len(rows):
            _, mmsi, x, y, h, sog = rows[j]
            st = static.get(mmsi, {})
            try:
                vt = catalogue.from_eri_code(int(st["eri_type"])) if st.get("eri_type") else (
                    catalogue.from_ais_ship_type(int(st["ship_type"])) if st.get("ship_type") else catalogue.get("M8"))
            except (ValueError, KeyError):
                vt = catalogue.get("M8")
            tr.mode[j] = LIVE_MODE
            tr.active[j] = 1
            tr.live_mmsi[j] = mmsi
            tr.state.x[j], tr.state.y[j], tr.state.psi[j], tr.state.u[j] = x, y, h, sog
            tr.current[j] = 0.0
            tr.length[j] = float(st.get("length") or vt.L_oa)
            tr.beam[j] = float(st.get("beam") or vt.B)
        else:
            tr.mode[j] = LIVE_MODE
            tr.active[j] = 0
            tr.state.x[j] = tr.state.y[j] = 1e9
    return min(len(rows), T)
