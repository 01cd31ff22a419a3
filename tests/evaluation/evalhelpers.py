import dataclasses
import textwrap
from pathlib import Path

import pytest

from testbed.evaluation.sandbox import (
    DEFAULT_LIMITS,
    bwrap_problem,  # noqa: E402
)
from testbed.evaluation.suite import Case

needs_bwrap = pytest.mark.skipif(bwrap_problem() is not None, reason=str(bwrap_problem()))

# a 20-step episode on the flat canal: fast enough for many sandboxed runs
SHORT = Case("short", "Channel-v0", {"time_limit_s": 20.0, "traffic": {"count": 0}}, ("short",), "", (0,))
TIGHT = dataclasses.replace(DEFAULT_LIMITS, step_deadline_s=0.5, max_late_steps=4, setup_deadline_s=8.0,
                            episode_deadline_s=30.0, cpu_s=20, memory_bytes=2 << 30, nproc=16,
                            fsize_bytes=1 << 20)  # fmt: skip


def write_submission(folder: Path, policy_src: str, team: str = "team", name: str = "policy") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "submission.yaml").write_text(f'spec_version: 1\nteam: "{team}"\nname: "{name}"\nmode: python\n')
    (folder / "policy.py").write_text(textwrap.dedent(policy_src))
    return folder


ZERO_POLICY = """
import numpy as np

class P:
    def reset(self, seed=None):
        pass

    def act(self, obs):
        return np.array([0.0, 0.5], dtype=np.float32)

def make_policy(observation_space, action_space):
    return P()
"""


@pytest.fixture
def zero_submission(tmp_path):
    return write_submission(tmp_path / "zero", ZERO_POLICY)
