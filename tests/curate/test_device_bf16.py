"""bf16 on a CPU without native bf16 is emulated by torch and very slow: the flag check and the warning."""

import torch

from curate.device import cpu_has_bf16, warn_slow_bf16


def _cpuinfo(tmp_path, flags: str):
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 {flags}\n\n")
    return str(path)


def test_the_flag_is_read_from_cpuinfo(tmp_path):
    assert cpu_has_bf16(_cpuinfo(tmp_path, "avx2 avx512f avx512_bf16")) is True
    assert cpu_has_bf16(_cpuinfo(tmp_path, "avx2 amx_bf16 amx_tile")) is True
    assert cpu_has_bf16(_cpuinfo(tmp_path, "avx2 avx512f")) is False
    assert cpu_has_bf16(str(tmp_path / "missing")) is None


def test_the_warning_names_the_fix_only_on_a_cpu_without_bf16(tmp_path, capsys):
    cpu = torch.device("cpu")
    assert warn_slow_bf16(cpu, cpuinfo=_cpuinfo(tmp_path, "avx2")) is True
    assert "use --dtype fp32" in capsys.readouterr().err
    assert warn_slow_bf16(cpu, cpuinfo=_cpuinfo(tmp_path, "avx512_bf16")) is False
    assert warn_slow_bf16(cpu, cpuinfo=str(tmp_path / "missing")) is False
    assert warn_slow_bf16(torch.device("meta"), cpuinfo=_cpuinfo(tmp_path, "avx2")) is False
    assert capsys.readouterr().err == ""
