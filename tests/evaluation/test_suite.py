import pytest

from testbed.evaluation.suite import (
    SECRET_ENV,
    SUITE_VERSION,
    SuiteError,
    config_hash,
    final_seeds,
    get_suite,
)


def test_suites_share_cases_and_cover_the_topics():
    dev, test = get_suite("dev"), get_suite("test")
    assert [c.id for c in dev.cases] == [c.id for c in test.cases]
    tags = {t for c in dev.cases for t in c.tags}
    assert {"port_entry", "rhine_transit", "berthing", "encounter", "link", "remote", "high_discharge", "traffic"} <= tags
    assert {c.id for c in dev.select(["encounter"]).cases} == {"crossing", "head_on", "overtaking"}
    assert dev.version == SUITE_VERSION
    assert not set(dev.cases[0].seeds) & set(test.cases[0].seeds)
    with pytest.raises(SuiteError, match="unknown case or tag 'nope'"):
        dev.select(["nope"])
    with pytest.raises(SuiteError, match="unknown suite"):
        get_suite("devv")


def test_every_case_resolves_and_hash_tracks_the_config():
    dev = get_suite("dev")
    hashes = {c.id: c.config_hash() for c in dev.cases}
    assert len(set(hashes.values())) == len(hashes)
    cfg = dev.case("remote_coverage_hole").resolve()
    assert cfg.link.mode == "remote" and cfg.link.profile == "with_outages"
    assert dev.case("high_discharge").resolve().discharge_m3s == 6000.0
    import dataclasses

    assert config_hash(dataclasses.replace(cfg, dt=0.5)) != config_hash(cfg)
    assert config_hash(cfg) == dev.case("remote_coverage_hole").config_hash()


def test_final_needs_the_secret_and_derives_seeds_by_hmac(monkeypatch, tmp_path):
    monkeypatch.delenv(SECRET_ENV, raising=False)
    monkeypatch.delenv("TESTBED_FINAL_SECRET_FILE", raising=False)
    with pytest.raises(SuiteError, match="hidden seeds"):
        get_suite("final")
    a = get_suite("final", secret="s3cret")
    b = get_suite("final", secret="s3cret")
    c = get_suite("final", secret="other")
    assert [x.seeds for x in a.cases] == [x.seeds for x in b.cases]
    assert a.cases[0].seeds != c.cases[0].seeds
    assert a.cases[0].seeds == final_seeds(b"s3cret", a.cases[0].id)
    assert len(set(a.cases[0].seeds) | set(a.cases[1].seeds)) == 2 * len(a.cases[0].seeds)
    f = tmp_path / "secret"
    f.write_text("s3cret\n")
    monkeypatch.setenv("TESTBED_FINAL_SECRET_FILE", str(f))
    assert get_suite("final").cases[0].seeds == a.cases[0].seeds
