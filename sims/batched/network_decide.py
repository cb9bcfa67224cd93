"""What every vehicle decides on a road network, for :mod:`sims.batched.network_step`: neighbours,
IDM, MOBIL, aborts and steering, asked as queries.

A query is a (scene, row, lane) triple, so that the questions only some vehicles ask (MOBIL, once a
second; aborts and the target lane's leader, while changing lane) are asked for those vehicles
alone, gathered first. Each query searches every row of its scene on the lane asked about, as
highway-env's ``Road.neighbour_vehicles`` does.
"""

from __future__ import annotations

import torch
from torch import Tensor

from sims.batched import physics, roads
from sims.batched.network import NetworkState
from sims.batched.physics import EgoFollowing, IdmConstants
from sims.batched.roads import LaneView, RoadTensors

NEIGHBOUR_MARGIN_M = 1.0  # Road.neighbour_vehicles: on_lane(..., margin=1)


def own_lane(
    state: NetworkState,
    road: RoadTensors,
    constants: IdmConstants,
    ego_following: EgoFollowing | None = None,
) -> tuple[Lanes, Tensor]:
    """Every row's neighbours on its own lane, and its IDM acceleration [m/s2] behind the front
    (the ego's by ``ego_following``, where given).

    The lanes are returned whole, though only ``along`` is used after: compiled, the graph then
    computes ``member`` once, where returning ``along`` alone made it three times slower."""
    every = every_row(state)
    own = Lanes.of(state, road, every.env, state.lane.reshape(-1))
    front, _ = own.neighbours(every.row)
    acceleration = idm(
        state, road, own.along, every, front, constants=constants, ego_following=ego_following
    )
    return own, acceleration.view_as(state.x_m)


class Query:
    """Some rows of some scenes: entry ``k`` asks about row ``row[k]`` of scene ``env[k]``."""

    def __init__(self, env: Tensor, row: Tensor, count: int) -> None:
        self.env, self.row, self.flat = env, row, env * count + row

    @classmethod
    def of(cls, mask: Tensor) -> Query:
        env, row = torch.nonzero(mask, as_tuple=True)
        return cls(env, row, mask.shape[1])

    def gather(self, values: Tensor) -> Tensor:
        """The asked rows' entries of a ``(B, N)`` field."""
        return values.reshape(-1)[self.flat]


def every_row(state: NetworkState) -> Query:
    batch, count = state.x_m.shape
    device = state.x_m.device
    env = torch.arange(batch, device=device).repeat_interleave(count)
    return Query(env, torch.arange(count, device=device).repeat(batch), count)


class Lanes:
    """Every row of a query's scene in the coordinates of the lane asked about ``(M, N)``, and
    whether it is on that lane for the neighbour search (``member``: int32, not bool, since
    compiled CPU code writes boolean tensors several times slower; issue 29)."""

    def __init__(self, along: Tensor, across: Tensor, member: Tensor) -> None:
        self.along, self.across, self.member = along, across, member

    @classmethod
    def of(cls, state: NetworkState, road: RoadTensors, env: Tensor, lane: Tensor) -> Lanes:
        view = LaneView.of(road, lane[:, None])
        along, across = roads.local_coordinates(view, state.x_m[env], state.y_m[env])
        member = roads.on_lane(view, along, across, NEIGHBOUR_MARGIN_M) & state.present[env]
        return cls(along, across, member.int())

    def neighbours(self, asking: Tensor) -> tuple[Tensor, Tensor]:
        """``Road.neighbour_vehicles``: the front and rear rows (-1: none) of row ``asking[k]`` on
        query ``k``'s lane. Ties go as in highway-env's scan: the last in front, the first behind."""
        count = self.along.shape[1]
        index = torch.arange(count, device=asking.device)
        others = (self.member != 0) & (index != asking[:, None])
        mine = self.along.gather(1, asking[:, None])
        ahead, behind = others & (self.along >= mine), others & (self.along < mine)
        # Reductions to values, then the index of the tie wanted: faster compiled than an
        # argmin over the flipped rows (a third less time for the whole search).
        nearest = torch.where(ahead, self.along, torch.inf).amin(-1, keepdim=True)
        front = torch.where(ahead & (self.along == nearest), index, -1).amax(-1)
        last = torch.where(behind, self.along, -torch.inf).amax(-1, keepdim=True)
        rear = torch.where(behind & (self.along == last), index, count).amin(-1)
        return front, torch.where(rear < count, rear, -1)


def idm(
    state: NetworkState,
    road: RoadTensors,
    own_along_m: Tensor,
    asking: Query,
    front: Tensor,
    vehicle: Tensor | None = None,
    *,
    constants: IdmConstants,
    ego_following: EgoFollowing | None = None,
) -> Tensor:
    """``IDMVehicle.acceleration`` asked by the rows of ``asking``: of ``vehicle`` (default the
    asking row itself) behind ``front`` (either -1: none), with the asking row's exponent, as
    highway-env uses ``self.DELTA``. 0 where ``vehicle`` is no vehicle (none, or a road object).

    :param own_along_m: every row along each row's own lane (:func:`own_lane`): the gap is
        measured along the lane of the vehicle asked about (``lane_distance_to``).
    :param ego_following: the ego's own time gap and model, where the ego (row 0) asks about itself;
        None: the traffic's for every row.
    """
    count = state.x_m.shape[1]
    vehicle = asking.row if vehicle is None else vehicle
    me = asking.env * count + vehicle.clamp(min=0)
    ahead = asking.env * count + front.clamp(min=0)
    speed, heading = state.speed_mps.reshape(-1), state.heading_rad.reshape(-1)
    # The ego's own model applies where it asks about itself, not to another vehicle's prediction.
    is_ego = (asking.row == 0) & (vehicle == asking.row)
    star = physics.desired_gap_m(
        speed[me],
        torch.cos(heading[me]),
        torch.sin(heading[me]),
        speed[ahead],
        torch.cos(heading[ahead]),
        torch.sin(heading[ahead]),
        physics.ego_time_gap_s(is_ego, ego_following),
        constants=constants,
    )
    gap = own_along_m[me, front.clamp(min=0)] - own_along_m[me, vehicle.clamp(min=0)]
    # The target speed is clipped to the speed limit of the vehicle's lane, as np.clip does.
    limit = road.speed_limit_mps[state.lane.reshape(-1)[me]]
    target = torch.minimum(state.target_speed_mps.reshape(-1)[me].clamp(min=0), limit)
    terms = (speed[me], target, asking.gather(state.delta), float("inf"), gap, star, front >= 0)
    acceleration = physics.ego_model_acceleration_mps2(
        physics.idm_acceleration_mps2(*terms, constants=constants),
        terms,
        is_ego,
        ego_following,
        constants=constants,
    )
    is_vehicle = (vehicle >= 0) & ~state.static.reshape(-1)[me]
    return torch.where(is_vehicle, acceleration, 0.0)


def abort(
    state: NetworkState,
    own_along_m: Tensor,
    changing: Tensor,
    old_target: Tensor,
    constants: IdmConstants,
) -> None:
    """``IDMVehicle.change_lane_policy``'s abort: a vehicle changing lane within its road gives the
    change up when another controlled vehicle, ahead closer than the desired gap, is changing into
    the same lane. Each vehicle sees the new targets of the vehicles before it in highway-env's
    loop and the old ones of those after it: rows are visited in that order."""
    count = state.x_m.shape[1]
    asking = Query.of(changing)
    if asking.env.numel() == 0:
        return
    speed, heading = state.speed_mps[asking.env], state.heading_rad[asking.env]
    mine = asking.gather
    star = physics.desired_gap_m(
        mine(state.speed_mps)[:, None],
        torch.cos(mine(state.heading_rad))[:, None],
        torch.sin(mine(state.heading_rad))[:, None],
        speed,
        torch.cos(heading),
        torch.sin(heading),
        constants=constants,
    )
    along = own_along_m[asking.flat]
    gap = along - along.gather(1, asking.row[:, None])
    rows = torch.arange(count, device=gap.device)
    other = (rows != asking.row[:, None]) & state.present[asking.env]
    other = other & state.controlled[asking.env] & (gap > 0) & (gap < star)
    other = other & (state.lane[asking.env] != mine(state.target_lane)[:, None])
    before = rows < asking.row[:, None]
    for row in torch.unique(asking.row).tolist():
        now = asking.row == row
        env = asking.env[now]
        wanted = state.target_lane[env, row]
        seen = torch.where(before[now], state.target_lane[env], old_target[env])
        blocked = (other[now] & (seen == wanted[:, None])).any(-1)
        state.target_lane[env, row] = torch.where(blocked, state.lane[env, row], wanted)


def mobil(
    state: NetworkState,
    road: RoadTensors,
    own_along_m: Tensor,
    due: Tensor,
    own_lane_mps2: Tensor,
    constants: IdmConstants,
) -> None:
    """``IDMVehicle.change_lane_policy``'s decision for the rows ``due``: each side lane of the road,
    left then right, reachable, while moving, when ``mobil`` approves."""
    # Only a vehicle on a lane with a side lane has a change to weigh (none at intersection-v0).
    sided = (road.left >= 0) | (road.right >= 0)
    asking = Query.of(due & (state.speed_mps.abs() >= 1) & sided[state.lane])
    if asking.env.numel() == 0:
        return
    steps = state.route_road.shape[-1]
    head = asking.gather(state.route_head).clamp(max=steps - 1)[:, None]
    route_road = state.route_road.reshape(-1, steps)[asking.flat].gather(1, head)[:, 0]
    route_lane = state.route_lane.reshape(-1, steps)[asking.flat].gather(1, head)[:, 0]
    lane_specific = (
        (asking.gather(state.route_head) < steps) & (route_road >= 0) & (route_lane >= 0)
    )
    lane = asking.gather(state.lane)
    target = asking.gather(state.target_lane)
    self_mps2 = asking.gather(own_lane_mps2)
    count = state.x_m.shape[1]
    for side_of in (road.left, road.right):
        # Only the rows with a lane on this side weigh it (on two-lane roads, half of them).
        has_side = torch.nonzero(side_of[lane] >= 0)[:, 0]
        if has_side.numel() == 0:
            continue
        weighing = Query(asking.env[has_side], asking.row[has_side], count)
        side = side_of[lane[has_side]]
        candidate = Lanes.of(state, road, weighing.env, side)
        along = candidate.along.gather(1, weighing.row[:, None])[:, 0]
        across = candidate.across.gather(1, weighing.row[:, None])[:, 0]
        reachable = roads.is_reachable_from(road, side, along, across)
        new_front, new_rear = candidate.neighbours(weighing.row)
        # The new follower's prediction, along its own lane, with the asking row's exponent.
        follower_mps2 = idm(
            state, road, own_along_m, weighing, weighing.row, vehicle=new_rear, constants=constants
        )
        self_pred_mps2 = idm(state, road, own_along_m, weighing, new_front, constants=constants)
        safe = follower_mps2 >= -physics.LANE_CHANGE_MAX_BRAKING_IMPOSED_MPS2
        now = target[has_side]
        target_id = road.lane_id[now]
        right_way = torch.sign(road.lane_id[side] - target_id) == torch.sign(
            route_lane[has_side] - target_id
        )
        routed = right_way & (self_pred_mps2 >= -physics.LANE_CHANGE_MAX_BRAKING_IMPOSED_MPS2)
        gain = self_pred_mps2 - self_mps2[has_side] >= physics.LANE_CHANGE_MIN_ACC_GAIN_MPS2
        approve = safe & torch.where(lane_specific[has_side], routed, gain)
        target[has_side] = torch.where(reachable & approve, side, now)
    state.target_lane.view(-1)[asking.flat] = target


def steering(state: NetworkState, road: RoadTensors) -> Tensor:
    """``ControlledVehicle.steering_control`` towards each row's target lane, pursuing the lane's
    heading a little ahead (``TAU_PURSUIT``)."""
    view = LaneView.of(road, state.target_lane)
    along, across = roads.local_coordinates(view, state.x_m, state.y_m)
    ahead = roads.heading_at(view, along + state.speed_mps * physics.TAU_PURSUIT_S)
    return physics.steering_control_rad(across, state.speed_mps, state.heading_rad, ahead)
