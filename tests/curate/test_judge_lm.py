"""The LM judge (`--judge-model`): its model load follows the progress switch like every other model load."""

from __future__ import annotations

import pytest

from curate.evaluation.judge_lm import LMJudge
from tests.curate.test_cli_progress import BAR


@pytest.mark.parametrize("progress", [False, True])
def test_the_judge_s_model_load_follows_progress(progress, tiny_lm_model, capsys, one_torch_thread):
    judge = LMJudge(str(tiny_lm_model), progress=progress)
    capsys.readouterr()
    judge._load()
    err = capsys.readouterr().err
    assert ("Loading weights" in err and BAR.search(err)) if progress else not BAR.search(err), err


def test_progress_is_not_saved_with_the_judge():
    """A run-time switch, like the device: a saved judge loads with the bar on unless its caller turns it off."""
    judge = LMJudge("unused", progress=False)
    assert "progress" not in judge.to_dict() and LMJudge.from_dict(judge.to_dict()).progress
