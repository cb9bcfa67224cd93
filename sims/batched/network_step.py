"""One simulation step of ``B`` scenes on a road network: the ego's action, decide, move, collide.

This is ``ActionType.act``, ``Road.act`` and ``Road.step`` of highway-env 1.12 on any road network of
straight, sine and circular lanes (:mod:`sims.batched.roads`). IDM vehicles follow their routes
through the lane graph (``ControlledVehicle.follow_road``), change lane by MOBIL where their road has
side lanes, abort a change when another vehicle takes the same gap, and steer along curved lanes;
obstacles stop whoever meets them.

Neighbours are searched densely, every row against every row of its scene, on the lane asked about:
highway-env's own rule (``Road.neighbour_vehicles``: the nearest member of the lane ahead and behind,
in that lane's coordinates), with fixed shapes. The roads of the suite carry at most a few dozen
vehicles per scene, where the ``(B, N, N)`` search costs less than any index.
"""

from __future__ import annotations

import torch
from torch import Tensor

from sims.batched import physics, roads
from sims.batched.engine import continuous_command, meta_target_speed_mps
from sims.batched.network import NetworkConfig, NetworkState
from sims.batched.roads import LaneView, RoadTensors

NEIGHBOUR_MARGIN_M = 1.0  # Road.neighbour_vehicles: on_lane(..., margin=1)


def apply_ego_action(
    state: NetworkState, road: RoadTensors, config: NetworkConfig, action: Tensor
) -> None:
    """``ActionType.act`` for the ego, at the first simulation step of a policy step.

    :param action: ``(B, 2)`` in [-1, 1] (acceleration, steering) under continuous control, or
        ``(B,)`` indices of highway-env's meta-actions (LANE_LEFT, IDLE, LANE_RIGHT, FASTER, SLOWER).
    """
    if config.ego_control == "continuous":
        state.ego_acceleration_mps2, state.ego_steering_rad = continuous_command(
            action, state.x_m.dtype
        )
        return
    ego = torch.zeros_like(state.present)
    ego[:, 0] = True
    follow_road(state, road, ego)
    action = action.long()
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


def follow_road(state: NetworkState, road: RoadTensors, who: Tensor) -> None:
    """``ControlledVehicle.follow_road`` for the rows ``who``: at the end of the target lane, take
    the next one, on the route where there is one (dropping the route's step just finished)."""
    target = state.target_lane
    view = LaneView.of(road, target)
    along, _ = roads.local_coordinates(view, state.x_m, state.y_m)
    ending = who & roads.after_end(view, along)
    if not bool(ending.any()):
        return
    steps = state.route_road.shape[-1]

    def route_step(head: Tensor) -> tuple[Tensor, Tensor]:
        index = head.clamp(max=steps - 1)[..., None]
        step_road = state.route_road.gather(-1, index)[..., 0]
        step_lane = state.route_lane.gather(-1, index)[..., 0]
        valid = (head < steps) & (step_road >= 0)
        return torch.where(valid, step_road, roads.NONE), torch.where(valid, step_lane, roads.NONE)

    head = state.route_head
    first_road, _ = route_step(head)
    finished = ending & (first_road >= 0) & (first_road == road.road[target])
    head = torch.where(finished, head + 1, head)
    next_road, next_lane_id = route_step(head)
    starts_here = (
        road.road_origin[next_road.clamp(min=0)] == road.road_destination[road.road[target]]
    )
    follows = (next_road >= 0) & starts_here
    chosen = roads.next_lane(
        road,
        target,
        state.x_m,
        state.y_m,
        next_road=torch.where(follows, next_road, roads.NONE),
        next_lane_id=torch.where(follows, next_lane_id, roads.NONE),
    )
    state.target_lane = torch.where(ending, chosen, target)
    state.route_head = head


def act(state: NetworkState, road: RoadTensors, config: NetworkConfig) -> tuple[Tensor, Tensor]:
    """``Road.act``: every row's steering [rad] and acceleration [m/s2] for the next step.

    Updates the target lanes, routes and lane-change timers of ``state``.
    """
    rows = _rows(state)
    ego = rows == 0
    acting = state.idm & state.present & ~state.crashed & ~ego
    meta_ego = ego & torch.tensor(config.ego_control == "meta", device=ego.device)
    old_target = state.target_lane.clone()
    follow_road(state, road, acting | meta_ego)
    own = _Lane.of(state, road, state.lane)
    own_front, own_rear = own.neighbours(state, rows)
    own_lane_mps2 = _idm(state, road, own, rows, own_front)

    deciding = acting & state.lane_changes
    _abort(state, road, own, deciding, old_target)
    due = (
        deciding & (state.lane == state.target_lane) & (state.timer_s > physics.LANE_CHANGE_DELAY_S)
    )
    state.timer_s = torch.where(due, 0.0, state.timer_s)
    if bool(due.any()):
        _mobil(state, road, own, due, own_lane_mps2)

    target = _Lane.of(state, road, state.target_lane)
    steering = _steering(state, road, target)
    acceleration = own_lane_mps2
    changing = state.lane != state.target_lane
    if bool((changing & acting).any()):
        target_front, _ = target.neighbours(state, rows)
        behind_target = _idm(state, road, own, rows, target_front)
        acceleration = torch.where(
            changing, torch.minimum(acceleration, behind_target), acceleration
        )
    acceleration = acceleration.clamp(-physics.ACC_MAX_MPS2, physics.ACC_MAX_MPS2)
    if config.ego_control == "continuous":
        steering = torch.where(ego, state.ego_steering_rad[:, None], steering)
        acceleration = torch.where(ego, state.ego_acceleration_mps2[:, None], acceleration)
    else:
        ego_acceleration = physics.speed_control_mps2(state.target_speed_mps, state.speed_mps)
        acceleration = torch.where(ego, ego_acceleration, acceleration)
    still = state.static | ~state.present
    return torch.where(still, 0.0, steering), torch.where(still, 0.0, acceleration)


def step(
    state: NetworkState,
    road: RoadTensors,
    config: NetworkConfig,
    steering: Tensor,
    acceleration: Tensor,
) -> None:
    """``Road.step``: move every vehicle, then detect collisions. Updates ``state`` in place."""
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
    lane = roads.closest_lane(road, state.x_m, state.y_m, state.heading_rad)
    state.lane = torch.where(moving, lane, state.lane)
    if config.ego_control == "continuous":
        # ``clip_actions`` rewrites the ego's held action in place, so the change persists.
        state.ego_steering_rad, state.ego_acceleration_mps2 = steering[:, 0], acceleration[:, 0]
    _collide(state, dt_s)


class _Lane:
    """Every row's coordinates on one lane per row ``(B, N, N)``: ``[b, i, j]`` is row ``j`` on the
    lane asked about for row ``i``, and whether it is on that lane for the neighbour search."""

    def __init__(self, view: LaneView, along: Tensor, across: Tensor, member: Tensor) -> None:
        self.view, self.along, self.across, self.member = view, along, across, member

    @classmethod
    def of(cls, state: NetworkState, road: RoadTensors, lane: Tensor) -> _Lane:
        view = LaneView.of(road, lane[..., None])
        along, across = roads.local_coordinates(view, state.x_m[:, None, :], state.y_m[:, None, :])
        member = roads.on_lane(view, along, across, NEIGHBOUR_MARGIN_M) & state.present[:, None, :]
        return cls(view, along, across, member)

    def neighbours(self, state: NetworkState, asking: Tensor) -> tuple[Tensor, Tensor]:
        """``Road.neighbour_vehicles``: the front and rear rows (-1: none) of row ``asking[b, i]`` on
        row ``i``'s lane. Ties go as in highway-env's scan: the last in the front, the first behind."""
        count = state.x_m.shape[1]
        others = self.member & (torch.arange(count, device=asking.device) != asking[..., None])
        mine = self.along.gather(-1, asking[..., None])
        ahead, behind = others & (self.along >= mine), others & (self.along < mine)
        front_key = torch.where(ahead, self.along, torch.inf).flip(-1)
        front = count - 1 - torch.argmin(front_key, dim=-1)
        rear = torch.argmax(torch.where(behind, self.along, -torch.inf), dim=-1)
        return torch.where(ahead.any(-1), front, -1), torch.where(behind.any(-1), rear, -1)


def _rows(state: NetworkState) -> Tensor:
    batch, count = state.x_m.shape
    return torch.arange(count, device=state.x_m.device).expand(batch, count)


def _gather(values: Tensor, index: Tensor) -> Tensor:
    """``values[b, index[b, ...]]`` for ``(B, N)`` values (index -1 reads row 0)."""
    flat = index.clamp(min=0).reshape(index.shape[0], -1)
    return values.gather(1, flat).reshape(index.shape)


def _idm(
    state: NetworkState, road: RoadTensors, own: _Lane, vehicle: Tensor, front: Tensor
) -> Tensor:
    """``IDMVehicle.acceleration`` of rows ``vehicle`` behind rows ``front`` (either -1: none), with
    the exponent of the row asking, which is row ``i`` for entry ``[b, i]``, as highway-env uses
    ``self.DELTA``. 0 where ``vehicle`` is no vehicle (none, or a road object)."""
    count = state.x_m.shape[1]
    has_front = front >= 0
    speed = _gather(state.speed_mps, vehicle)
    heading = _gather(state.heading_rad, vehicle)
    front_heading = _gather(state.heading_rad, front)
    star = physics.desired_gap_m(
        speed,
        torch.cos(heading),
        torch.sin(heading),
        _gather(state.speed_mps, front),
        torch.cos(front_heading),
        torch.sin(front_heading),
    )
    # lane_distance_to: both positions along the lane of the vehicle asked about.
    table = own.along.reshape(own.along.shape[0], -1)
    me = vehicle.clamp(min=0)
    gap = _gather(table, me * count + front.clamp(min=0)) - _gather(table, me * count + me)
    # The target speed is clipped to the speed limit of the vehicle's lane, as np.clip does.
    limit = road.speed_limit_mps[_gather(state.lane, vehicle)]
    target = torch.minimum(_gather(state.target_speed_mps, vehicle).clamp(min=0), limit)
    acceleration = physics.idm_acceleration_mps2(
        speed, target, state.delta, float("inf"), gap, star, has_front
    )
    is_vehicle = (vehicle >= 0) & ~_gather(state.static, vehicle)
    return torch.where(is_vehicle, acceleration, 0.0)


def _abort(
    state: NetworkState, road: RoadTensors, own: _Lane, deciding: Tensor, old_target: Tensor
) -> None:
    """``IDMVehicle.change_lane_policy``'s abort: a vehicle changing lane within its road gives the
    change up when another controlled vehicle, ahead closer than the desired gap, is changing into
    the same lane. Each vehicle sees the new targets of the vehicles before it in highway-env's
    loop and the old ones of those after it; the rule is applied until nothing changes."""
    rows = _rows(state)
    asking = deciding & (state.lane != state.target_lane)
    asking = asking & (road.road[state.lane] == road.road[state.target_lane])
    if not bool(asking.any()):
        return
    cos, sin = torch.cos(state.heading_rad), torch.sin(state.heading_rad)
    star = physics.desired_gap_m(
        state.speed_mps[..., None],
        cos[..., None],
        sin[..., None],
        state.speed_mps[:, None, :],
        cos[:, None, :],
        sin[:, None, :],
    )
    gap = own.along - own.along.diagonal(dim1=1, dim2=2)[..., None]
    other = (rows[..., None] != rows[:, None, :]) & state.present[:, None, :]
    other = other & state.controlled[:, None, :] & (gap > 0) & (gap < star)
    before = rows[:, None, :] < rows[..., None]
    target = state.target_lane
    for _ in range(state.x_m.shape[1]):
        seen = torch.where(before, target[:, None, :], old_target[:, None, :])
        wanted = target[..., None]
        blocking = other & (state.lane[:, None, :] != wanted) & (seen == wanted)
        aborts = asking & (target != state.lane) & blocking.any(-1)
        updated = torch.where(aborts, state.lane, state.target_lane)
        if torch.equal(updated, target):
            break
        target = updated
    state.target_lane = target


def _mobil(
    state: NetworkState, road: RoadTensors, own: _Lane, due: Tensor, own_lane_mps2: Tensor
) -> None:
    """``IDMVehicle.change_lane_policy``'s decision for the rows ``due``: each side lane of the road,
    left then right, reachable, while moving, when ``mobil`` approves."""
    rows = _rows(state)
    steps = state.route_road.shape[-1]
    head = state.route_head.clamp(max=steps - 1)[..., None]
    route_road = torch.where(
        state.route_head < steps, state.route_road.gather(-1, head)[..., 0], -1
    )
    route_lane = state.route_lane.gather(-1, head)[..., 0]
    lane_specific = (route_road >= 0) & (route_lane >= 0)
    moving = state.speed_mps.abs() >= 1
    for side_of in (road.left, road.right):
        side = side_of[state.lane]
        exists = due & (side >= 0)
        if not bool(exists.any()):
            continue
        candidate = _Lane.of(state, road, side.clamp(min=0))
        along = candidate.along.diagonal(dim1=1, dim2=2)
        across = candidate.across.diagonal(dim1=1, dim2=2)
        reachable = roads.is_reachable_from(road, side, along, across)
        new_front, new_rear = candidate.neighbours(state, rows)
        # The new follower's prediction is made along its own lane, with the asking row's exponent.
        follower_mps2 = _idm_of_follower(state, road, own, new_rear)
        self_pred_mps2 = _idm(state, road, own, rows, new_front)
        safe = follower_mps2 >= -physics.LANE_CHANGE_MAX_BRAKING_IMPOSED_MPS2
        target_id = road.lane_id[state.target_lane]
        right_way = torch.sign(road.lane_id[side.clamp(min=0)] - target_id) == torch.sign(
            route_lane - target_id
        )
        routed = right_way & (self_pred_mps2 >= -physics.LANE_CHANGE_MAX_BRAKING_IMPOSED_MPS2)
        gain = self_pred_mps2 - own_lane_mps2 >= physics.LANE_CHANGE_MIN_ACC_GAIN_MPS2
        approve = safe & torch.where(lane_specific, routed, gain)
        change = exists & reachable & moving & approve
        state.target_lane = torch.where(change, side, state.target_lane)


def _idm_of_follower(
    state: NetworkState, road: RoadTensors, own: _Lane, follower: Tensor
) -> Tensor:
    """MOBIL's ``acceleration(ego_vehicle=new_following, front_vehicle=self)`` for every row ``i``
    as the front of ``follower[b, i]``: along the follower's lane, with row ``i``'s exponent."""
    return _idm(state, road, own, follower, _rows(state))


def _steering(state: NetworkState, road: RoadTensors, target: _Lane) -> Tensor:
    """``ControlledVehicle.steering_control`` towards each row's target lane, pursuing the lane's
    heading a little ahead (``TAU_PURSUIT``)."""
    along = target.along.diagonal(dim1=1, dim2=2)
    across = target.across.diagonal(dim1=1, dim2=2)
    view = LaneView.of(road, state.target_lane)
    ahead = roads.heading_at(view, along + state.speed_mps * physics.TAU_PURSUIT_S)
    return physics.steering_control_rad(across, state.speed_mps, state.heading_rad, ahead)


def _collide(state: NetworkState, dt_s: float) -> None:
    """``Road.step``'s collision loop over every pair (vehicle, later vehicle or object): the
    spherical pre-test with the first one's speed, then the separating-axis test; each vehicle keeps
    the impact of its last pair, half of it against a vehicle and all of it against an obstacle."""
    count = state.x_m.shape[1]
    first, second = torch.triu_indices(count, count, offset=1, device=state.x_m.device)
    present = state.present[:, first] & state.present[:, second]
    tested = present & ~state.static[:, first]
    dx = state.x_m[:, first] - state.x_m[:, second]
    dy = state.y_m[:, first] - state.y_m[:, second]
    diagonal = torch.sqrt(state.length_m**2 + state.width_m**2)
    reach = (diagonal[:, first] + diagonal[:, second]) / 2 + state.speed_mps[:, first] * dt_s
    close = tested & (torch.sqrt(dx * dx + dy * dy) <= reach)
    if not bool(close.any()):
        return
    heading_a, heading_b = state.heading_rad[:, first], state.heading_rad[:, second]
    speed_a, speed_b = state.speed_mps[:, first], state.speed_mps[:, second]
    intersecting, will_intersect, move_x, move_y = physics.box_collisions(
        dx,
        dy,
        heading_a,
        heading_b,
        (speed_a * torch.cos(heading_a) * dt_s, speed_a * torch.sin(heading_a) * dt_s),
        (speed_b * torch.cos(heading_b) * dt_s, speed_b * torch.sin(heading_b) * dt_s),
        size_a_m=(state.length_m[:, first], state.width_m[:, first]),
        size_b_m=(state.length_m[:, second], state.width_m[:, second]),
    )
    intersecting, will_intersect = close & intersecting, close & will_intersect
    crashed = torch.zeros_like(state.crashed, dtype=torch.long)
    crashed.scatter_add_(1, first.expand_as(intersecting), intersecting.long())
    crashed.scatter_add_(1, second.expand_as(intersecting), intersecting.long())
    state.crashed = state.crashed | (crashed > 0)
    # Each row keeps the impact of its last pair in loop order (pairs are enumerated in that
    # order); a row is the first or the second of a pair, and an obstacle takes no impact.
    pairs = first.numel()
    obstacle = state.static[:, second]
    ends = torch.cat([first, second])
    taken = torch.cat([will_intersect, will_intersect & ~obstacle], dim=1)
    share = torch.cat(
        [torch.where(obstacle, 1.0, 0.5).to(move_x.dtype), torch.full_like(move_x, -0.5)], dim=1
    )
    key = torch.arange(2 * pairs, device=ends.device)
    key = (key % pairs) * 2 + key // pairs  # pair index first, then which end
    last = torch.full_like(state.crashed, -1, dtype=torch.long)
    last.scatter_reduce_(
        1, ends.expand_as(taken), torch.where(taken, key, -1), reduce="amax", include_self=True
    )
    found = last >= 0
    position = (last % 2) * pairs + last.clamp(min=0) // 2
    move_x = torch.cat([move_x, move_x], dim=1) * share.to(move_x.dtype)
    move_y = torch.cat([move_y, move_y], dim=1) * share.to(move_y.dtype)
    state.impact_x_m = torch.where(found, move_x.gather(1, position), state.impact_x_m)
    state.impact_y_m = torch.where(found, move_y.gather(1, position), state.impact_y_m)
    state.has_impact = found
