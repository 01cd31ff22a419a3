"""Replays: record every episode into one file, read it back at random, re-simulate it, export it.

Recording
---------
- ``gymnasium.make("testbed/PortEntry-v0", record="ep.replay", record_agent="autopilot")`` writes the
  first episode to ``ep.replay`` (later ones to ``ep-001.replay``, ...); ``record="DIR/"`` (or an
  existing folder) writes ``DIR/episode_NNN.replay`` per episode.
- ``testbed.replay.RecordEpisode(env, path, agent=None)``: the same as a Gymnasium wrapper.
- ``testbed.replay.Recorder(venv, dir)``: a VectorWrapper for ``DuisburgVectorEnv``; one file
  ``dir/env_EEE_episode_KKKK.replay`` per finished episode per env (``close()`` also writes the
  unfinished ones, outcome ``"unfinished"``). ``Recorder(world, dir)`` records a bare ``World`` that
  the caller steps: ``after_reset(e or [e, ...])`` after ``reset_env``, ``after_step(actions, done)``
  after ``world.step``.
- ``testbed run SCENARIO --record DIR``.

Per step the recorder copies preallocated views of the world's arrays into one buffer row (one
``np.concatenate``): no I/O in ``step()``. When an episode ends its rows are copied and handed to a
background writer thread, which builds the columns and events and writes the file atomically;
``env.close()``, ``Recorder.close()`` / ``flush()`` and ``testbed.replay.flush()`` wait until every
finished episode is on disk (so does interpreter exit). Pass ``background=False`` to
``RecordEpisode`` / ``Recorder`` to write synchronously at the episode's last step.

Reading
-------
``r = ReplayReader(path)``:

- ``r.header`` (dict): ``format_version``, ``simulator_version``, ``git_hash`` (None when unknown),
  ``scenario``, ``config`` (the full resolved ScenarioConfig as a dict; non-finite floats as "nan"/"inf"),
  ``seed`` (the env's base seed) and ``episode`` (episode index k of that seed: the episode's randomness
  is ``SeedSequence(seed, spawn_key=(k,))``), ``env_index``, ``map`` {name, sha256}, ``link`` {profile,
  mode, cells: cell ids, index = ``link/cell``}, ``agent``, ``dt``, ``outcome`` (collision, grounding,
  left_map, goal, time_limit, unfinished), ``n_steps``, ``n_frames``, ``duration_s``, ``return``,
  ``vessels`` {ego: {name, mmsi, type, model, length_m, beam_m}, traffic: [{slot, name, mmsi, type,
  length_m, beam_m, source}]} (traffic column j is slot j), ``route`` [[x, y], ...], ``goal`` {name, x,
  y, psi (None: any), position_tol_m, heading_tol_rad, speed_tol_ms}, ``reward_names``,
  ``reward_weights``, ``rays`` {angles_rad (relative to the heading, + starboard), range_m},
  ``event_counts``, and ``columns`` (dtype, shape, encoding, unit, doc of every column).
- ``r.n_frames`` = ``r.n_steps + 1``: **frame 0 is the reset state**, frame i the state after step i.
  ``r.times`` (float64, per frame), ``r.step_at_time(t)`` (the last frame at or before t),
  ``r.column(name, i0=0, i1=None)`` (frames i0..i1-1), ``r.frame(i)`` (dict of every column at frame i,
  plus ``events`` at i), ``r.events`` (list of {step, t, kind, vessel, x, y, text}; ``vessel`` is the
  traffic slot or None; kinds: collision, grounding, left_map, goal, near_miss (onset, with the nearest
  vessel), handover, outage (onset, with its duration), failsafe, rule_violation (harbour speed limit,
  onset)), ``r.reward_names``.

Columns (n = n_frames, T = traffic slots, K = rays, C = reward components); frame: local map metres,
x east, y north; headings grid north = 0, clockwise, radians:

==========================  ========  ===========================================================
``t``                       (n,)      episode time [s]
``ego/x``, ``ego/y``        (n,)      midship position [m]
``ego/psi``                 (n,)      heading [rad] (not wrapped)
``ego/u``, ``ego/v``        (n,)      surge, sway through the water [m/s]
``ego/r``                   (n,)      yaw rate [rad/s]
``ego/rudder``              (n,)      rudder angle [rad]
``ego/revs``                (n,)      propeller revs [rev/s]
``ego/current``             (n, 2)    current at the ego (east, north) [m/s]
``ego/sog`` ...             (n,)      ``ego/route_s``, ``ego/cross_track``, ``ego/dist_goal``,
                                      ``ego/goal_heading_err``, ``ego/min_cpa``, ``ego/min_sdf``
``ego/collided`` ...        (n,) bool ``ego/grounded``, ``ego/left_map``, ``ego/reached``, ``ego/in_harbour``
``ego/rays``                (n, K)    ray length / ``rays.range_m`` (float32)
``action``                  (n, 2)    [rudder, engine] as sent by the agent (NaN at frame 0)
``command``                 (n, 2)    [rudder, engine] as applied (clipped; after the link when remote)
``reward/total``            (n,)      reward of the step
``reward``                  (n, C)    weighted components, named by ``reward_names``
``traffic/x``, ``/y``       (n, T)    positions (1e9 while a slot is inactive)
``traffic/psi``             (n, T)    headings
``traffic/u``, ``/r``       (n, T)    surge through the water, yaw rate
``traffic/sog``, ``/cog``   (n, T)    speed [m/s] and course [rad] over ground
``traffic/active``          (n, T)    uint8, 1 while the slot is active
``ais/x``, ``ais/y``        (n, T)    the ego's AIS picture: last report received (NaN: none)
``ais/age``                 (n, T)    its age [s] (inf: none; only with observation.targets="ais")
``link/sinr``               (n,)      serving-cell SINR [dB] (+inf: ideal link; NaN at frame 0)
``link/cell``               (n,)      int16 serving cell index into ``header.link.cells`` (-1 none)
``link/data_latency_ms``    (n,)      shore->ship data packet latency (inf: lost)
``link/cmd_latency_ms``     (n,)      command packet latency (remote mode; inf: lost)
``link/handover`` ...       (n,) bool ``link/interrupted``, ``link/outage``, ``link/data_lost``,
                                      ``link/cmd_lost``, ``link/failsafe``
==========================  ========  ===========================================================

Both link paths run shore -> ship (the traffic picture and the remote commands), so there is no
up/down-link pair: the names are ``data`` and ``cmd``.

Verification and export
-----------------------
``testbed replay verify FILE`` (:func:`testbed.replay.verify.verify`) re-simulates the episode from the
header and the recorded actions and checks every column bit for bit. ``testbed replay FILE --export
out.{mcap,nmea,geojson}`` (:mod:`testbed.replay.export_mcap`, ``export_nmea``, ``export_geojson``).

Errors: a newer format version, a truncated or a corrupted file raise :class:`ReplayError`
(a ``ValueError``) naming the file and the problem. File layout: :mod:`testbed.replay.format`.
"""

from __future__ import annotations

from testbed.replay.format import FORMAT_VERSION, ReplayError, ReplayReader

__all__ = ["FORMAT_VERSION", "ReplayError", "ReplayReader", "Recorder", "RecordEpisode", "WorldRecorder", "flush"]


def __getattr__(name: str):
    if name in ("Recorder", "RecordEpisode", "WorldRecorder", "EnvRecorder", "flush"):
        from testbed.replay import recorder

        return getattr(recorder, name)
    raise AttributeError(f"module 'testbed.replay' has no attribute {name!r}")
