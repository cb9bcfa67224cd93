"""One simulation step of ``B`` scenes on a road network: the ego's action, decide, move, collide.

This is ``ActionType.act``, ``Road.act`` and ``Road.step`` of highway-env 1.12 on any road network of
straight, sine and circular lanes (:mod:`sims.batched.roads`). IDM vehicles follow their routes
through the lane graph (``ControlledVehicle.follow_road``), change lane by MOBIL where their road has
side lanes, abort a change when another vehicle takes the same gap, and steer along curved lanes;
obstacles stop whoever meets them.

Neighbours are searched as highway-env searches them (``Road.neighbour_vehicles``: the nearest
member of the lane ahead and behind, in that lane's coordinates): densely, each query against every
row of its scene, on curved roads, whose scenes carry a few dozen rows at most; by station order
where every lane runs straight one way (highway-v0's 51 rows). A query is a (scene, row, lane)
triple, so that the questions only some vehicles ask (MOBIL, once a second; aborts and the target
lane's leader, while changing lane; the next lane, at a lane's end) are asked for those vehicles
alone, gathered first, as :mod:`sims.batched.engine` does on the straight road.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, fields

import torch
from torch import Tensor

from sims.batched import network_decide as decide
from sims.batched import network_stations, physics, regulation, roads
from sims.batched.ego import continuous_command, meta_target_speed_mps, with_ego_commands
from sims.batched.engine import META_ACTIONS
from sims.batched.network import NetworkConfig, NetworkState
from sims.batched.network_stations import Stations
from sims.batched.roads import LaneView, RoadTensors


def apply_ego_action(
    state: NetworkState, road: RoadTensors, config: NetworkConfig, action: Tensor
) -> None:
    """``ActionType.act`` for the ego, at the first simulation step of a policy step.

    :param action: ``(B, 2)`` in [-1, 1] (acceleration, steering) under continuous control,
        ``(B,)`` indices of highway-env's meta-actions (LANE_LEFT, IDLE, LANE_RIGHT, FASTER, SLOWER),
        or ``(B, 2)`` (lane id on the ego's road, target speed [m/s]) for an ego that follows.
    """
    if config.ego_control == "continuous":
        state.ego_acceleration_mps2, state.ego_steering_rad = continuous_command(
            action, state.x_m.dtype
        )
        return
    if config.ego_control == "follow":
        # The lane of that id on the road of the ego's target lane, and the speed to follow.
        target_road = road.road[state.target_lane[:, 0]]
        widest = road.lane_of.shape[1]
        lane_id = action[:, 0].round().long().clamp(0, widest - 1)
        lane_id = torch.minimum(lane_id, road.road_lanes[state.target_lane[:, 0]] - 1)
        state.target_lane[:, 0] = road.lane_of[target_road, lane_id]
        state.target_speed_mps[:, 0] = action[:, 1].to(state.x_m.dtype)
        return
    ego = torch.zeros_like(state.present)
    ego[:, 0] = True
    follow_road(state, road, ego)
    # The meta-action's index in highway-env's five (LANE_LEFT, IDLE, LANE_RIGHT, FASTER, SLOWER).
    codes = torch.tensor([META_ACTIONS.index(name) for name in config.meta_actions])
    action = codes.to(action.device)[action.long()]
    state.target_speed_mps[:, 0] = meta_target_speed_mps(
        action, state.speed_mps[:, 0], state.target_speed_mps[:, 0], config.meta_target_speeds_mps
    )
    # LANE_LEFT and LANE_RIGHT: the side lane of the target lane, if reachable from here.
    target = state.target_lane[:, 0]
    side = torch.where(
        action == 0, road.left[target], torch.where(action == 2, road.right[target], -1)
    )
    side_or_same = torch.where(side >= 0, side, target)
    view = LaneView.of(road, side_or_same)
    along, across = roads.local_coordinates(view, state.x_m[:, 0], state.y_m[:, 0])
    reachable = roads.is_reachable_from(road, side_or_same, along, across)
    state.target_lane[:, 0] = torch.where((side >= 0) & reachable, side, target)


def follow_road(
    state: NetworkState, road: RoadTensors, who: Tensor, *, compiled: bool = False
) -> None:
    """``ControlledVehicle.follow_road`` for the rows ``who``: at the end of the target lane, take
    the next one, on the route where there is one (dropping the route's step just finished)."""
    due = kernels(compiled).needs_next_lane(state, road)
    env, row = torch.nonzero(who & (due != 0), as_tuple=True)
    if env.numel() == 0:
        return
    target = state.target_lane[env, row]
    steps = state.route_road.shape[-1]
    route_road, route_lane = state.route_road[env, row], state.route_lane[env, row]

    def route_step(head: Tensor) -> tuple[Tensor, Tensor]:
        index = head.clamp(max=steps - 1)[:, None]
        valid = (head < steps) & (route_road.gather(1, index)[:, 0] >= 0)
        step_road = torch.where(valid, route_road.gather(1, index)[:, 0], roads.NONE)
        return step_road, torch.where(valid, route_lane.gather(1, index)[:, 0], roads.NONE)

    head = state.route_head[env, row]
    first_road, _ = route_step(head)
    head = torch.where((first_road >= 0) & (first_road == road.road[target]), head + 1, head)
    next_road, next_lane_id = route_step(head)
    origin = road.road_origin[next_road.clamp(min=0)]
    follows = (next_road >= 0) & (origin == road.road_destination[road.road[target]])
    state.target_lane[env, row] = roads.next_lane(
        road,
        target,
        state.x_m[env, row],
        state.y_m[env, row],
        next_road=torch.where(follows, next_road, roads.NONE),
        next_lane_id=torch.where(follows, next_lane_id, roads.NONE),
    )
    state.route_head[env, row] = head


def act(
    state: NetworkState, road: RoadTensors, config: NetworkConfig, *, compiled: bool = False
) -> tuple[Tensor, Tensor]:
    """``Road.act``: every row's steering [rad] and acceleration [m/s2] for the next step.

    Updates the target lanes, routes and lane-change timers of ``state``. With ``compiled``, the
    fixed-shape parts run as ``torch.compile`` graphs (see :func:`kernels`).
    """
    run = kernels(compiled)
    count = state.x_m.shape[1]
    ego = torch.arange(count, device=state.x_m.device) == 0
    acting = state.idm & state.present & ~state.crashed & ~ego
    # The ego follows its road under meta-actions; under follow it also drives as IDM does.
    following = ego & ~state.crashed & (config.ego_control == "follow")
    old_target = state.target_lane.clone()
    follow_road(
        state, road, acting | (ego & (config.ego_control != "continuous")), compiled=compiled
    )
    ego_following = config.ego_following if config.ego_control == "follow" else None
    own, own_lane_mps2 = run.own_lane(state, road, config.idm, ego_following)

    # change_lane_policy: a vehicle changing lane within its road may abort; one in its lane
    # decides by MOBIL once a second. MOBIL reads no other vehicle's target, so every decision is
    # made first; each abort then sees the final targets of the vehicles before it.
    deciding = acting & state.lane_changes
    same_road = road.road[state.lane] == road.road[state.target_lane]
    changing_in_road = deciding & (state.lane != state.target_lane) & same_road
    due = (
        deciding & (state.lane == state.target_lane) & (state.timer_s > physics.LANE_CHANGE_DELAY_S)
    )
    state.timer_s = torch.where(due, 0.0, state.timer_s)
    decide.mobil(state, road, own, due, own_lane_mps2, config.idm)
    decide.abort(state, own, changing_in_road, old_target, config.idm)

    acceleration = own_lane_mps2
    changing = decide.Query.of((acting | following) & (state.lane != state.target_lane))
    if changing.env.numel():
        target_lane = changing.gather(state.target_lane)
        target_front, _ = decide.search(own, state, road, changing, target_lane)
        behind = decide.idm(
            state,
            road,
            own,
            changing,
            target_front,
            constants=config.idm,
            ego_following=ego_following,
        )
        acceleration = acceleration.clone()
        acceleration[changing.env, changing.row] = torch.minimum(
            acceleration[changing.env, changing.row], behind
        )
    acceleration = acceleration.clamp(-physics.ACC_MAX_MPS2, physics.ACC_MAX_MPS2)
    steering = run.steering(state, road)
    steering, acceleration = with_ego_commands(
        config.ego_control, ego, steering, acceleration, state
    )
    still = state.static | ~state.present
    return torch.where(still, 0.0, steering), torch.where(still, 0.0, acceleration)


def needs_next_lane(state: NetworkState, road: RoadTensors) -> Tensor:
    """``(B, N)`` int32 (see :func:`near_pairs`): each row past the end of its target lane
    (``AbstractLane.after_end``) for which ``RoadNetwork.next_lane`` changes something: its lane
    has a successor, or its route's first step is that lane's road, to be dropped. The others,
    past a dead end (merge-v0's last lane: nearly half its rows), keep their lane and route, and
    leaving them out spares :func:`follow_road` their gathers at every simulation step."""
    view = LaneView.of(road, state.target_lane)
    along, _ = roads.local_coordinates(view, state.x_m, state.y_m)
    target = state.target_lane.clamp(min=0)
    has_successor = (road.successors[target] >= 0).any(-1)
    steps = state.route_road.shape[-1]
    head = state.route_head.clamp(max=steps - 1)[..., None]
    first_road = state.route_road.gather(-1, head)[..., 0]
    drops_step = (state.route_head < steps) & (first_road >= 0) & (first_road == road.road[target])
    return (roads.after_end(view, along) & (has_successor | drops_step)).int()


def step(
    state: NetworkState,
    road: RoadTensors,
    config: NetworkConfig,
    steering: Tensor,
    acceleration: Tensor,
    *,
    compiled: bool = False,
) -> None:
    """``Road.step``: move every vehicle, then detect collisions. Updates ``state`` in place.

    On a regulated road (intersection-v0), ``RegulatedRoad.step`` first stops the vehicles that
    must yield (:func:`sims.batched.regulation.regulate`).
    """
    if config.regulated:
        compiled_paths = kernels(compiled).predicted_paths if compiled else None
        regulation.regulate(state, road, config, compiled_paths)
    dt_s = config.dt_s
    moving = state.present & ~state.static
    state.timer_s = torch.where(moving & state.idm, state.timer_s + dt_s, state.timer_s)
    steering = torch.where(state.crashed, 0.0, steering)
    acceleration = physics.clip_acceleration_mps2(acceleration, state.speed_mps, state.crashed)
    x, y, heading, speed = physics.bicycle_step(
        state.x_m, state.y_m, state.heading_rad, state.speed_mps, steering, acceleration, dt_s
    )
    x = torch.where(state.has_impact, x + state.impact_x_m, x)
    y = torch.where(state.has_impact, y + state.impact_y_m, y)
    state.x_m = torch.where(moving, x, state.x_m)
    state.y_m = torch.where(moving, y, state.y_m)
    state.heading_rad = torch.where(moving, heading, state.heading_rad)
    state.speed_mps = torch.where(moving, speed, state.speed_mps)
    state.crashed = state.crashed | (state.has_impact & moving)
    state.has_impact = torch.zeros_like(state.has_impact)
    lane = kernels(compiled).closest_lane(road, state.x_m, state.y_m, state.heading_rad)
    state.lane = torch.where(moving, lane, state.lane)
    if config.ego_control == "continuous":
        # ``clip_actions`` rewrites the ego's held action in place, so the change persists.
        # Copies, not strided views: a compiled kernel that reads them would recompile for each.
        state.ego_steering_rad = steering[:, 0].contiguous()
        state.ego_acceleration_mps2 = acceleration[:, 0].contiguous()
    _collide(state, road, dt_s, kernels(compiled))


@dataclass(frozen=True)
class Kernels:
    """The parts of a simulation step that compile, run eagerly or as compiled graphs: every
    vehicle's own-lane neighbours and IDM, its steering, the closest lane of every vehicle, the
    collision loop's pre-test (of every pair, or of each row and the next few along the road:
    ``window_tests``) and its separating-axis test, the regulated junction's predicted paths,
    and which rows are due a next lane."""

    own_lane: Callable[..., tuple[decide.Lanes | Stations, Tensor]]
    steering: Callable[..., Tensor]
    closest_lane: Callable[..., Tensor]
    near_pairs: Callable[..., Tensor]
    window_tests: Callable[..., tuple[Tensor, Tensor]]
    predicted_paths: Callable[..., tuple[Tensor, ...]]
    box_collisions: Callable[..., tuple[Tensor, ...]]
    needs_next_lane: Callable[..., Tensor]


VARYING = frozenset({"box_collisions"})
"""The kernels whose inputs change size from call to call (the pairs that pass the pre-test):
compiled for any size, a tenth of the eager time on 50,000 pairs."""


@functools.cache
def kernels(compiled: bool) -> Kernels:
    """The step's kernels; compiled ones are made once per process, on first use (a minute or so).

    ``torch.compile`` fuses each part's many element-wise operations into a few loops; the parts
    that gather the few vehicles concerned stay eager, as in :func:`sims.batched.engine.kernels`,
    but for the separating-axis test of the pairs that pass the collision pre-test.
    Shapes are static (one graph per batch size and road; the separating-axis test aside):
    inductor's dynamic-shape CPU code for the neighbour search fails to build in torch 2.14.
    """
    parts = Kernels(
        own_lane=decide.own_lane,
        steering=decide.steering,
        closest_lane=roads.closest_lane,
        near_pairs=near_pairs,
        window_tests=network_stations.window_tests,
        predicted_paths=regulation.predicted_paths,
        box_collisions=physics.box_collisions,
        needs_next_lane=needs_next_lane,
    )
    if not compiled:
        return parts
    # One graph per (road, batch size): a benchmark over several meets more than the default eight.
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
    return Kernels(
        **{
            item.name: torch.compile(getattr(parts, item.name), dynamic=item.name in VARYING)
            for item in fields(parts)
        }
    )


def near_pairs(state: NetworkState, dt_s: float) -> Tensor:
    """``Road.step``'s spherical pre-test of every pair (vehicle, later vehicle or object)
    ``(B, N, N)``, the first row of a pair before the second (zero elsewhere): both present, the
    first moving, their centres within half their diagonals plus the first one's travel in
    ``dt_s``. Int32, not bool: compiled CPU code writes boolean tensors several times slower
    (issue 29); and over the whole square, which reads rows without gathers: twice as fast as
    the pairs alone."""
    count = state.x_m.shape[1]
    later = torch.ones(count, count, dtype=torch.bool, device=state.x_m.device).triu(1)
    present, moving = state.present, state.present & ~state.static
    tested = moving[:, :, None] & present[:, None, :] & later
    dx = state.x_m[:, :, None] - state.x_m[:, None, :]
    dy = state.y_m[:, :, None] - state.y_m[:, None, :]
    diagonal = torch.sqrt(state.length_m**2 + state.width_m**2)
    reach = (diagonal[:, :, None] + diagonal[:, None, :]) / 2 + state.speed_mps[:, :, None] * dt_s
    return (tested & (torch.sqrt(dx * dx + dy * dy) <= reach)).int()


def _near_pairs(
    state: NetworkState, road: RoadTensors, dt_s: float, run: Kernels
) -> tuple[Tensor, Tensor, Tensor]:
    """The pairs (scene, first row, second row) that pass ``Road.step``'s spherical pre-test,
    the first row before the second: over the whole square of pairs (:func:`near_pairs`), or,
    where the road's lanes share station orders (:mod:`sims.batched.network_stations`), between
    each row and the next few along the road, and over the whole square in the scenes where
    those few may not hold every close pair."""
    if not network_stations.applies(road, state.x_m.shape[1]):
        env, first, second = torch.nonzero(run.near_pairs(state, dt_s), as_tuple=True)
        return env, first, second
    near, order, short = network_stations.window_pairs(state, road, dt_s, run.window_tests)
    env, slot, shift = torch.nonzero(near * (1 - short[:, None, None]), as_tuple=True)
    one, other = order[env, slot], order[env, slot + shift + 1]
    first, second = torch.minimum(one, other), torch.maximum(one, other)
    scenes = torch.nonzero(short).flatten()
    if scenes.numel() == 0:
        return env, first, second
    # Eager: the number of such scenes changes from step to step.
    again, again_first, again_second = torch.nonzero(
        near_pairs(state.scenes(scenes), dt_s), as_tuple=True
    )
    return (
        torch.cat([env, scenes[again]]),
        torch.cat([first, again_first]),
        torch.cat([second, again_second]),
    )


def _collide(state: NetworkState, road: RoadTensors, dt_s: float, run: Kernels) -> None:
    """``Road.step``'s collision loop over every pair (vehicle, later vehicle or object): the
    spherical pre-test (:func:`near_pairs`), then, for the few pairs that pass it, the
    separating-axis test (``run`` holds both, eager or compiled). Each vehicle keeps the impact
    of its last pair in loop order, half of it against a vehicle and all of it against an
    obstacle."""
    count = state.x_m.shape[1]
    env, first, second = _near_pairs(state, road, dt_s, run)
    if env.numel() == 0:
        return
    pair = first * count + second  # increasing in the loop's order of pairs
    a, b = env * count + first, env * count + second
    x, y = state.x_m.reshape(-1), state.y_m.reshape(-1)
    heading, speed = state.heading_rad.reshape(-1), state.speed_mps.reshape(-1)
    length, width = state.length_m.reshape(-1), state.width_m.reshape(-1)
    # Compiled for two pairs or more: dynamo specialises sizes 0 and 1, which would recompile.
    separate = run.box_collisions if env.numel() > 1 else physics.box_collisions
    intersecting, will_intersect, move_x, move_y = separate(
        x[a] - x[b],
        y[a] - y[b],
        heading[a],
        heading[b],
        (speed[a] * torch.cos(heading[a]) * dt_s, speed[a] * torch.sin(heading[a]) * dt_s),
        (speed[b] * torch.cos(heading[b]) * dt_s, speed[b] * torch.sin(heading[b]) * dt_s),
        size_a_m=(length[a], width[a]),
        size_b_m=(length[b], width[b]),
    )
    crashed = state.crashed.reshape(-1).clone()
    crashed[a[intersecting]] = True
    crashed[b[intersecting]] = True
    state.crashed = crashed.view_as(state.crashed)
    # The last pair of each row in loop order gives its impact: keyed by (pair, end), as the
    # pairs are enumerated in that order and a row is the first or the second of a pair.
    obstacle = state.static.reshape(-1)[b]
    ends = torch.cat([a[will_intersect], b[will_intersect & ~obstacle]])
    key = torch.cat([pair[will_intersect] * 2, pair[will_intersect & ~obstacle] * 2 + 1])
    half = torch.where(obstacle, 1.0, 0.5).to(move_x.dtype)
    share = torch.cat(
        [half[will_intersect], torch.full_like(move_x[will_intersect & ~obstacle], -0.5)]
    )
    moves_x = torch.cat([move_x[will_intersect], move_x[will_intersect & ~obstacle]]) * share
    moves_y = torch.cat([move_y[will_intersect], move_y[will_intersect & ~obstacle]]) * share
    if ends.numel() == 0:
        return
    order = torch.argsort(ends * (2 * count * count + 2) + key)
    ends, moves_x, moves_y = ends[order], moves_x[order], moves_y[order]
    last = torch.ones_like(ends, dtype=torch.bool)
    last[:-1] = ends[1:] != ends[:-1]
    impact_x, impact_y = state.impact_x_m.reshape(-1).clone(), state.impact_y_m.reshape(-1).clone()
    has_impact = state.has_impact.reshape(-1).clone()
    impact_x[ends[last]], impact_y[ends[last]] = moves_x[last], moves_y[last]
    has_impact[ends[last]] = True
    state.impact_x_m = impact_x.view_as(state.impact_x_m)
    state.impact_y_m = impact_y.view_as(state.impact_y_m)
    state.has_impact = has_impact.view_as(state.has_impact)
