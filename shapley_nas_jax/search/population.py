"""Many searches as one program: a population of members along a leading axis of the search state.

A population crosses ``search.population`` seeds (``seed``, ``seed + 1``, ...) with every point of
``search.population_grid`` (values of the options the steps take as arguments, :class:`Hyperparameters`:
``"alpha_rule.momentum=0.5,0.8;train.learning_rate=0.05,0.1"``). Member i is the single search of its own
config (:func:`member_configs`): its data streams, its initial state and its step values are those of that
search, and the weight step, the architecture update and the evaluation of all members run as one jitted,
vmapped call of the single search's pure steps. So every member ends with its single search's alpha and
genotype, up to the order XLA sums in when it batches the members' convolutions (tests/test_population.py).

A member whose training loss becomes non-finite is held: its weights and alpha stay as they were before that
step, its log gets a ``diverged`` record, and the others go on. The search stops (SearchDivergedError) only
when every member has diverged.

``run_population`` writes ``<workdir>/member<i>/`` (what a single search's workdir holds: its resolved
config, metrics, results) and ``<workdir>/population.json`` (one row per member); the checkpoints, in
``<workdir>/checkpoints``, hold the whole population, so a killed run resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from typing import Callable, Iterator

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from shapley_nas_jax import config as config_lib
from shapley_nas_jax import sharding as sharding_lib
from shapley_nas_jax.checkpointing import Checkpointer
from shapley_nas_jax.compilation_cache import enable_compilation_cache
from shapley_nas_jax.driver import Callback, Checkpoints, Hook, drive
from shapley_nas_jax.errors import ConfigError
from shapley_nas_jax.genotypes import count_ops
from shapley_nas_jax.runs import MetricsLog, RunDir
from shapley_nas_jax.search.methods import get_method
from shapley_nas_jax.search.schedule import Search
from shapley_nas_jax.search.state import Hyperparameters, SearchState
from shapley_nas_jax.search.steps import SearchProgram

GRID_OPTIONS = tuple(Hyperparameters.OPTIONS.values())
POPULATION_AXIS = "population"  # the mesh axis the members are split over


def member_sharding(mesh: jax.sharding.Mesh) -> jax.sharding.NamedSharding:
    """Leading (member) axis split over the mesh's ``population`` axis (replicated over its ``data`` axis)."""
    return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(POPULATION_AXIS))


def batch_sharding(mesh: jax.sharding.Mesh) -> jax.sharding.NamedSharding:
    """Training batches ``[members, B, ...]``: members over ``population``, each member's images over ``data``."""
    return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(POPULATION_AXIS, sharding_lib.DATA_AXIS))


def population_mesh(members: int, devices: list, batch_size: int) -> jax.sharding.Mesh | None:
    """Mesh ``('population', 'data')`` over ``devices``, or None for one device.

    With at least as many members as devices, the members are split over the devices (``data`` has size 1);
    with more devices than members, each member gets ``len(devices) / members`` of them and its weight step is
    data-parallel over them, as a single search's on a mesh of that size.
    """
    count = len(devices)
    if count <= 1:
        return None
    if members % count and count % members:
        raise ConfigError(f"a population of {members} members cannot be split evenly over {count} devices; set "
                          f"mesh.devices to a divisor or a multiple of {members} (1: one device)")
    per_member = max(count // members, 1)
    if batch_size % per_member:
        raise ConfigError(f"train.batch_size={batch_size} is not divisible by the {per_member} devices of each "
                          f"member ({members} members on {count} devices); use a multiple of {per_member}")
    return jax.make_mesh((count // per_member, per_member), (POPULATION_AXIS, sharding_lib.DATA_AXIS),
                         axis_types=(jax.sharding.AxisType.Auto,) * 2, devices=devices)


def parse_grid(text: str) -> list[tuple[str, tuple[float, ...]]]:
    """``"option=v1,v2;option=v1"`` as ``[(option, (v1, v2)), ...]``; ConfigError (one line) for anything else."""
    grid = []
    for part in filter(None, (p.strip() for p in str(text).split(";"))):
        option, sep, values = part.partition("=")
        option = option.strip()
        if not sep or option not in GRID_OPTIONS:
            raise ConfigError(f"search.population_grid entry {part!r}: write OPTION=V1,V2,... with OPTION one of "
                              f"{', '.join(GRID_OPTIONS)} (the options the steps take as values)")
        if option in dict(grid):
            raise ConfigError(f"search.population_grid names {option} twice; give all its values in one entry")
        try:
            numbers = tuple(float(v) for v in values.split(","))
        except ValueError:
            raise ConfigError(f"search.population_grid entry {part!r}: the values must be numbers separated by "
                              f"commas (e.g. {option}=0.5,0.8)") from None
        grid.append((option, numbers))
    return grid


def is_population(config: ml_collections.ConfigDict) -> bool:
    """Whether ``config`` asks for more than one member (``search.population`` > 1 or a grid)."""
    config = config_lib.complete(config)
    return int(config.search.population) > 1 or bool(parse_grid(config.search.population_grid))


def member_configs(config: ml_collections.ConfigDict) -> list[ml_collections.ConfigDict]:
    """The single-search config of every member, seed-major: for each seed ``seed + s`` (s < population),
    every grid point. Each is validated; an invalid grid value is a one-line ConfigError naming the member."""
    config = config_lib.complete(config)
    population = int(config.search.population)
    if population < 1:
        raise ConfigError(f"search.population={population} must be >= 1 (the number of seeds)")
    grid = parse_grid(config.search.population_grid)
    options = [option for option, _ in grid]
    members = []
    for offset in range(population):
        for point in itertools.product(*(values for _, values in grid)):
            member = config_lib.override(ml_collections.ConfigDict(config.to_dict()), {
                "seed": int(config.seed) + offset, "search.population": 1, "search.population_grid": "",
                **dict(zip(options, point))})
            try:  # on one device: how a member's batches split over devices is population_mesh's to check
                config_lib.validate(config_lib.override(ml_collections.ConfigDict(member.to_dict()),
                                                        {"mesh.devices": 1}))
            except ConfigError as error:
                raise ConfigError(f"population member {len(members)} (seed {member.seed}"
                                  f"{''.join(f', {o}={v}' for o, v in zip(options, point))}): {error}") from None
            members.append(member)
    return members


@flax.struct.dataclass
class PopulationState:
    """The members' :class:`SearchState`s stacked along a leading axis ``[P]``. Every member is at the same
    point of the schedule, so the driver reads the counters of member 0."""

    members: SearchState

    @property
    def step(self) -> jax.Array:
        return self.members.step[0]

    @property
    def alpha_updates(self) -> jax.Array:
        return self.members.alpha_updates[0]

    @property
    def epoch_sums(self) -> jax.Array:
        return self.members.epoch_sums

    @property
    def diverged_at(self) -> jax.Array:
        """-1 while any member is finite (a diverged member is held, not fatal), else the last divergence."""
        diverged = self.members.diverged_at
        return jnp.where(jnp.all(diverged >= 0), diverged.max(), -1)

    def host_members(self) -> list[SearchState]:
        """Each member's state in NumPy arrays: one device-to-host copy of the population, sliced on the host
        (slicing on the devices compiles a program per leaf shape and sharding, hundreds in a short run)."""
        host = jax.device_get(self.members)
        return [jax.tree.map(lambda x, i=i: x[i], host) for i in range(len(host.step))]


def _hold_diverged(before: SearchState, after: SearchState) -> SearchState:
    """``after``, except that members whose loss has become non-finite keep ``before``'s weights, alpha,
    reference state and epoch sums (their counters still advance with the others')."""
    held = after.diverged_at >= 0

    def pick(old, new):
        return jnp.where(held.reshape(held.shape + (1,) * (new.ndim - 1)), old, new)

    return after.replace(weights=jax.tree.map(pick, before.weights, after.weights),
                         arch=jax.tree.map(pick, before.arch, after.arch),
                         reference=jax.tree.map(pick, before.reference, after.reference),
                         epoch_sums=pick(before.epoch_sums, after.epoch_sums))


class PopulationSteps:
    """The single program's pure steps over the members, jitted (state donated).

    The weight step is vmapped over the members. A Shapley update with sequential scoring (``shapley.scoring``,
    the CPU default) is mapped over them one after another (``lax.map``) instead: vmapped, each chain's early
    stop and each absent op's skipped branch become selects that compute every member's longest chain and
    every op (measured on the NB201 CPU config: 4 members' updates took 4.5x as long as 4 single updates,
    BENCHMARKS.md). With a ``mesh`` every argument and result is split along its leading, member axis over the
    mesh's ``population`` axis (``shard_map``, manual over that axis only): no member's arithmetic spans
    that axis. A member's batches may be split further over the ``data`` axis, which XLA partitions as it
    does a single search's data-parallel step (gradient and BatchNorm all-reduces over the member's devices).
    """

    def __init__(self, program: SearchProgram, mesh: jax.sharding.Mesh | None = None):
        self.maps_arch_step = program.method.estimates_shapley and program.plan.scoring == "sequential"

        def weight_step(members, batch, hyper):
            return _hold_diverged(members, jax.vmap(program._weight_step)(members, batch, hyper))

        def arch_step(members, *inputs_and_hyper, bn_mode):
            step = functools.partial(program._arch_step, bn_mode=bn_mode)
            if self.maps_arch_step:
                after, metrics = jax.lax.map(lambda args: step(*args), (members, *inputs_and_hyper))
            else:
                after, metrics = jax.vmap(step)(members, *inputs_and_hyper)
            return _hold_diverged(members, after), metrics

        def compiled(step):
            if mesh is not None:
                spec = jax.sharding.PartitionSpec(POPULATION_AXIS)
                # check_vma off: the members' loops carry values that vary per device (a member's chains), which
                # the replication checker would otherwise have to be told about at every loop's initial carry
                step = jax.shard_map(step, mesh=mesh, in_specs=spec, out_specs=spec, axis_names={POPULATION_AXIS},
                                     check_vma=False)
            return jax.jit(step, donate_argnums=0)

        self.weight_step = compiled(weight_step)
        self.arch_step = {mode: compiled(functools.partial(arch_step, bn_mode=mode)) for mode in program.bn_modes}


@functools.lru_cache(maxsize=8)
def population_steps(program: SearchProgram, mesh: jax.sharding.Mesh | None = None) -> PopulationSteps:
    """One set of vmapped steps per program and mesh (members share their program: ``cached_program``)."""
    return PopulationSteps(program, mesh)


def _stack(trees):
    """The members' trees stacked on the host: placing a NumPy array on a mesh slices it there, where a
    device array would be sliced by a compiled program per leaf shape and sharding. (Traced leaves, as
    ``jax.eval_shape`` of ``init_state`` gives, are stacked by jnp.)"""
    def stack(*xs):
        return jnp.stack(xs) if any(isinstance(x, jax.core.Tracer) for x in xs) else np.stack(jax.device_get(xs))

    return jax.tree.map(stack, *trees)


@dataclasses.dataclass
class Population:
    """The schedule (``driver.Schedule``) of a population: its members' :class:`Search` es, run as one."""

    config: ml_collections.ConfigDict
    members: list[Search]
    mesh: jax.sharding.Mesh | None = None  # the members split over devices (``mesh.devices``), or None

    @classmethod
    def from_config(cls, config: ml_collections.ConfigDict) -> "Population":
        """The members' searches (each built for one device) and the population's mesh
        (:func:`population_mesh` over ``mesh.devices``)."""
        enable_compilation_cache()
        config = config_lib.complete(config)
        configs = member_configs(config)
        if not get_method(config.search.method).supernet:
            raise ConfigError(f"search.method={config.search.method!r} has no supernet steps to run as a "
                              f"population; run its seeds one by one")
        mesh = population_mesh(len(configs), sharding_lib.mesh_devices(int(config.mesh.devices)),
                               int(config.train.batch_size))
        members = []
        for member_config in configs:  # built on one device, then holding the config as given
            search = Search.from_config(config_lib.override(ml_collections.ConfigDict(member_config.to_dict()),
                                                            {"mesh.devices": 1}), validate=False)
            members.append(dataclasses.replace(search, config=member_config))
        if any(m.program is not members[0].program for m in members):
            raise ConfigError("the population's members need one program; vary only the seed and "
                              f"{', '.join(GRID_OPTIONS)}")
        return cls(config=config, members=members, mesh=mesh)

    @property
    def first(self) -> Search:
        return self.members[0]

    @property
    def size(self) -> int:
        return len(self.members)

    @functools.cached_property
    def steps(self) -> PopulationSteps:
        return population_steps(self.first.program, self.mesh)

    @property
    def steps_per_epoch(self) -> int:
        return self.first.steps_per_epoch

    @property
    def total_steps(self) -> int:
        return self.first.total_steps

    def place(self, tree, sharding: Callable = member_sharding):
        """``tree`` (leading axis: the members; host-stacked by ``_stack``) put on the devices as the steps
        take it: split over the mesh, or uncommitted on the default device without one, so that the first
        step compiles for the placement every later one gets and donated states are device buffers."""
        return jax.device_put(tree) if self.mesh is None else jax.device_put(tree, sharding(self.mesh))

    @functools.cached_property
    def hyper(self) -> Hyperparameters:
        return self.place(_stack([m.hyper for m in self.members]))

    def init_state(self) -> PopulationState:
        """Each member's single-search initial state, stacked."""
        return PopulationState(members=self.place(_stack([m.init_state() for m in self.members])))

    # ---------------------------------------------------------------------- the driver's schedule
    def train_batches(self, start: int) -> Iterator[dict]:
        streams = [m.data.train_stream.iterate(int(start), self.total_steps - int(start)) for m in self.members]
        try:
            for batches in zip(*streams):
                yield self.place(_stack(batches), batch_sharding)
        finally:
            for stream in streams:
                stream.close()

    def weight_step(self, state: PopulationState, batch: dict) -> PopulationState:
        return PopulationState(members=self.steps.weight_step(state.members, batch, self.hyper))

    def arch_update_due(self, state: PopulationState) -> bool:
        return int(state.alpha_updates) < self.first.updates_due(int(state.step))

    def arch_step(self, state: PopulationState) -> tuple[PopulationState, dict]:
        counters = _Counters(step=int(state.step), alpha_updates=int(state.alpha_updates))
        inputs = self.place(_stack([m.method.arch_inputs(m, counters) for m in self.members]))
        members, metrics = self.steps.arch_step[self.first.bn_mode_at(counters)](state.members, *inputs, self.hyper)
        return PopulationState(members=members), metrics

    def arch_step_label(self, state: PopulationState) -> str | None:
        return self.first.arch_step_label(state)

    def compile_key(self, state: PopulationState) -> str:
        return self.first.bn_mode_at(state)

    def start_epoch(self, state: PopulationState) -> PopulationState:
        return PopulationState(members=jax.vmap(SearchState.start_epoch)(state.members))


@dataclasses.dataclass(frozen=True)
class _Counters:
    """Where the population is, for what reads only a state's counters (a method's ``arch_inputs``, BN mode)."""

    step: int
    alpha_updates: int


class _MemberLogs(Hook):
    """Each member's own hooks (its metrics log), fed its slice of the population state; a member that has
    diverged gets one ``diverged`` record and nothing after it."""

    def __init__(self, population: Population, hooks: list[Hook], logs: list[MetricsLog]):
        self.population = population
        self.hooks = hooks
        self.logs = logs
        self.reported = {i for i, log in enumerate(logs) if any(r.get("kind") == "diverged" for r in log.records())}

    def _alive(self, state: PopulationState) -> list[int]:
        diverged = np.asarray(state.members.diverged_at)
        for i in np.flatnonzero(diverged >= 0):
            if i not in self.reported:
                self.reported.add(int(i))
                step = int(diverged[i])
                self.logs[i].write({"kind": "diverged", "step": step,
                                    "epoch": step // self.population.steps_per_epoch})
        return [i for i in range(self.population.size) if diverged[i] < 0]

    def arch_update(self, state: PopulationState, step: int, metrics: dict) -> None:
        members, metrics = state.host_members(), jax.device_get(metrics)
        for i in self._alive(state):
            self.hooks[i].arch_update(members[i], step, jax.tree.map(lambda x, i=i: x[i], metrics))

    def epoch_end(self, state: PopulationState, epoch: int, seconds: dict) -> dict:
        members, alive = state.host_members(), self._alive(state)
        entries = [self.hooks[i].epoch_end(members[i], epoch, seconds) for i in alive]
        accuracies = [float(e["value_acc"]) for e in entries if e and "value_acc" in e]
        summary = {"epoch": epoch, "members": f"{len(alive)}/{self.population.size}"}
        if accuracies:
            summary["value_acc"] = f"{np.mean(accuracies):.3f}"
        return summary


@dataclasses.dataclass
class PopulationResult:
    """The members' results (None for a diverged member) and population.json's rows."""

    results: list
    rows: list[dict]
    workdir: str


def run_population(config: ml_collections.ConfigDict, workdir: str, *, progress: bool = True,
                   interrupt: Callable[[str, PopulationState], bool] | None = None) -> PopulationResult:
    """Run (or resume) the population of ``config`` in ``workdir`` (see the module's docstring)."""
    from shapley_nas_jax.search.run import SearchInterrupted, _finish, _load_benchmark, _search_point, _SearchLog

    enable_compilation_cache()
    config = config_lib.complete(config)
    config_lib.validate(config)
    population = Population.from_config(config)
    benchmark = _load_benchmark(config, population.first.space)
    rundir = RunDir(workdir)
    rundir.prepare(config, defaults=config_lib.base_config())
    member_dirs = [RunDir(f"{rundir.path}/member{i}") for i in range(population.size)]
    for member_dir, member in zip(member_dirs, population.members):
        member_dir.prepare(member.config, defaults=config_lib.base_config())
    logs = [MetricsLog(d) for d in member_dirs]
    checkpointer = Checkpointer(rundir.checkpoint_dir, keep=config.checkpoint.keep)
    try:
        if checkpointer.latest_id() is None:
            state = population.init_state()
        else:
            state, meta = checkpointer.restore(jax.eval_shape(population.init_state))
            state = PopulationState(members=population.place(state.members))
            for log in logs:
                log.truncate_after(meta["step"], meta["alpha_updates"])
        member_hooks = [_SearchLog(m, log, benchmark) for m, log in zip(population.members, logs)]
        hooks = [_MemberLogs(population, member_hooks, logs),
                 Checkpoints(checkpointer, rundir.checkpoint_dir, _search_point)]
        if interrupt is not None:
            hooks.append(Callback(interrupt, stop=SearchInterrupted))
        label = f"population of {population.size} {population.first.space.name}" if progress else None
        state = drive(population, state, hooks, progress=label)
    finally:
        checkpointer.close()
    diverged = np.asarray(state.members.diverged_at)
    member_states = state.host_members()
    results, rows = [], []
    grid = [option for option, _ in parse_grid(config.search.population_grid)]
    for i, (member, member_dir, log) in enumerate(zip(population.members, member_dirs, logs)):
        row = {"member": i, "seed": int(member.config.seed),
               "hyperparameters": {option: _option(member.config, option) for option in grid},
               "diverged_at": int(diverged[i]) if diverged[i] >= 0 else None}
        result = None
        if diverged[i] < 0:
            result = _finish(member, member_states[i], member_dir, log, benchmark)
            row.update(genotype=str(result.genotype), skip_count=count_ops(result.genotype, "skip_connect"),
                       benchmark=benchmark.query(str(result.genotype)) if benchmark is not None else None)
        results.append(result)
        rows.append(row)
    rundir.write_json("population.json", {"members": rows, "grid": dict(parse_grid(config.search.population_grid)),
                                          "population": int(config.search.population)})
    return PopulationResult(results=results, rows=rows, workdir=rundir.path)


def _option(config: ml_collections.ConfigDict, dotted: str):
    node = config
    for part in dotted.split("."):
        node = node[part]
    return node
