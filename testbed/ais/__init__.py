"""AIS for the testbed: reading real receiver logs (this package's ingestion side) and AIS out.

Ingestion (:mod:`testbed.ais.nmea`, :mod:`testbed.ais.ingest`, :mod:`testbed.ais.tracks`):

* :func:`testbed.ais.nmea.parse_line` classifies one line (plain sentence, tag block, receiver
  timestamp, trailing metadata, Gatehouse wrapper, non-AIS) and verifies checksums;
* :class:`testbed.ais.ingest.AISIngestor` streams lines into normalised :class:`AISMessage` records and
  accounts for every line in a :class:`Report`; :func:`ingest` reads a whole source;
* :func:`testbed.ais.tracks.build_tracks` turns messages into per-MMSI :class:`Track` time series.

Names are imported lazily so that ``import testbed.ais`` stays cheap.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "ParsedLine": "nmea",
    "parse_line": "nmea",
    "AISMessage": "ingest",
    "AISIngestor": "ingest",
    "Report": "ingest",
    "REASONS": "ingest",
    "WARNINGS": "ingest",
    "AISSourceError": "ingest",
    "ingest": "ingest",
    "open_lines": "ingest",
    "parse_source_url": "ingest",
    "Track": "tracks",
    "build_tracks": "tracks",
    "write_tracks_csv": "tracks",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'testbed.ais' has no attribute {name!r}")
    return getattr(importlib.import_module(f"testbed.ais.{mod}"), name)
