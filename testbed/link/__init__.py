"""Radio link model for ship-to-shore communication in the harbour testbed.

- :mod:`testbed.link.profiles` — :class:`LinkProfile` (every knob, validated) and :func:`load_profile`
  reading ``testbed/conf/link/<name>.yaml`` (package data);
- :mod:`testbed.link.radio` — 3GPP TR 38.901 path loss, LOS probability, correlated shadow fading,
  sector antenna pattern, bridge blockage and the precomputed, disk-cached :class:`RadioMap`;
- :mod:`testbed.link.nr_tables` — TS 38.214 CQI/MCS tables, SINR -> CQI -> spectral efficiency ->
  throughput;
- :mod:`testbed.link.channel` — per-packet latency/loss and the handover state machine;
- :mod:`testbed.link.coverage` — coverage rasters (SINR, throughput, latency) and their heat maps.

Nothing here imports matplotlib at module import time.
"""
