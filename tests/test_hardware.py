"""The CPU's vector ISA, read from /proc/cpuinfo's flags and capped by XLA_FLAGS, and the machine record
that benchmarks write beside their figures."""

from shapley_nas_jax import hardware

AVX512_CPU = "processor\t: 0\nmodel name\t: Some Xeon\nflags\t\t: fpu sse2 avx avx2 fma avx512f avx512bw\n"
AVX2_CPU = "processor\t: 0\ncpu family\t: 25\nmodel\t\t: 1\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx avx2 fma\n"


def test_isa_from_cpu_flags():
    assert hardware.cpu_vector_isa(AVX512_CPU, "") == "avx512"
    assert hardware.cpu_vector_isa(AVX2_CPU, "") == "avx2"
    assert hardware.cpu_vector_isa("flags\t: fpu sse2 neon\n", "") == "other"
    assert hardware.cpu_vector_isa("", "") == "other"  # not Linux / unreadable


def test_xla_flag_caps_the_isa_but_never_raises_it():
    capped = "--xla_force_host_platform_device_count=2 " + hardware.xla_isa_flag("avx2")
    assert capped.endswith("--xla_cpu_max_isa=AVX2")
    assert hardware.cpu_vector_isa(AVX512_CPU, capped) == "avx2"
    assert hardware.cpu_vector_isa(AVX512_CPU, "--xla_cpu_max_isa=AVX512F") == "avx512"
    assert hardware.cpu_vector_isa(AVX2_CPU, hardware.xla_isa_flag("avx512")) == "avx2"
    assert hardware.cpu_vector_isa(AVX512_CPU, "--xla_cpu_max_isa=SSE4_2") == "other"


def test_machine_info_records_what_benchmarks_need():
    info = hardware.machine_info()
    assert info["isa"] in hardware.ISAS and info["native_isa"] in hardware.ISAS
    assert info["backend"] == "cpu" and info["device_count"] >= 1
    assert info["cpu"] and info["jax"]


def test_cpu_identity_names_family_model_isa_and_xla_flags():
    identity = hardware.cpu_identity(AVX2_CPU, "--xla_cpu_multi_thread_eigen=false")
    assert identity == {"model_name": "AMD EPYC", "family": "25", "model": "1", "isa": "avx2",
                        "xla_flags": "--xla_cpu_multi_thread_eigen=false"}
    capped = hardware.cpu_identity(AVX512_CPU, hardware.xla_isa_flag("avx2"))
    assert capped["isa"] == "avx2" and capped["family"] is None and capped["model_name"] == "Some Xeon"
