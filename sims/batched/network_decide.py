"""What every vehicle decides on a road network, for :mod:`sims.batched.network_step`: neighbours,
IDM, MOBIL, aborts and steering, asked as queries.

A query is a (scene, row, lane) triple, so that the questions only some vehicles ask (MOBIL, once a
second; aborts and the target lane's leader, while changing lane) are asked for those vehicles
alone, gathered first. Each query searches every row of its scene on the lane asked about, as
highway-env's ``Road.neighbour_vehicles`` does; where every lane runs straight one way
(highway-v0), by station order instead (:mod:`sims.batched.network_stations`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from sims.batched import network_stations, physics, roads
from sims.batched.network import NetworkState
from sims.batched.network_stations import Stations
from sims.batched.physics import EgoFollowing, IdmConstants
from sims.batched.roads import LaneView, RoadTensors
from sims.constants import ON_LANE_MARGIN_M


def own_lane(
    state: NetworkState,
    road: RoadTensors,
    constants: IdmConstants,
    ego_following: EgoFollowing | None = None,
) -> tuple[Lanes | Stations, Tensor]:
    """Every row's neighbours on its own lane, and its IDM acceleration [m/s2] behind the front
    (the ego's by ``ego_following``, where given).

    The search comes back whole, to be asked again (:func:`search`) and read for gaps: by
    station where every lane runs straight one way (:mod:`sims.batched.network_stations`), else
    densely. Compiled, returning the dense lanes whole computes ``member`` once, where returning
    ``along`` alone made the graph three times slower."""
    every = every_row(state)
    lane = state.lane.reshape(-1)
    own: Lanes | Stations
    if network_stations.applies(road, state.x_m.shape[1]):
        own = Stations.of(state, road)
        front, _ = own.neighbours(every.env, every.row, lane)
    else:
        own = Lanes.of(state, road, every.env, lane)
        front, _ = own.neighbours(every.row)
    acceleration = idm(
        state, road, own, every, front, constants=constants, ego_following=ego_following
    )
    return own, acceleration.view_as(state.x_m)


def search(
    own: Lanes | Stations, state: NetworkState, road: RoadTensors, asking: Query, lane: Tensor
) -> tuple[Tensor, Tensor]:
    """The front and rear rows (-1: none) of the asking rows on ``lane`` ``(M,)``: from the
    stations where :func:`own_lane` found them so, else by a dense search of each scene."""
    if isinstance(own, Stations):
        return own.neighbours(asking.env, asking.row, lane)
    return Lanes.of(state, road, asking.env, lane).neighbours(asking.row)


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
        member = roads.on_lane(view, along, across, ON_LANE_MARGIN_M) & state.present[env]
        return cls(along, across, member.int())

    def along_at(self, flat: Tensor, column: Tensor) -> Tensor:
        """Of the lanes of :func:`own_lane` (one query per row, in row order): row ``column[k]``
        along the own lane of row ``flat[k]`` [m]."""
        return self.along[flat, column]

    def along_rows(self, flat: Tensor) -> Tensor:
        """Of the lanes of :func:`own_lane`: every row along the own lane of row ``flat[k]``."""
        return self.along[flat]

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
    own: Lanes | Stations,
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

    :param own: the search of :func:`own_lane`, read for every row along each row's own lane:
        the gap is measured along the lane of the vehicle asked about (``lane_distance_to``).
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
    gap = own.along_at(me, front.clamp(min=0)) - own.along_at(me, vehicle.clamp(min=0))
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
    own: Lanes | Stations,
    changing: Tensor,
    old_target: Tensor,
    constants: IdmConstants,
) -> None:
    """``IDMVehicle.change_lane_policy``'s abort: a vehicle changing lane within its road gives the
    change up when another controlled vehicle, ahead closer than the desired gap, is changing into
    the same lane. Each vehicle sees the new targets of the vehicles before it in highway-env's
    loop and the old ones of those after it."""
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
    along = own.along_rows(asking.flat)
    gap = along - along.gather(1, asking.row[:, None])
    rows = torch.arange(count, device=gap.device)
    other = (rows != asking.row[:, None]) & state.present[asking.env]
    other = other & state.controlled[asking.env] & (gap > 0) & (gap < star)
    other = other & (state.lane[asking.env] != mine(state.target_lane)[:, None])
    before = rows < asking.row[:, None]
    # Each row's choice depends on those of the rows before it alone, so the loop's outcome is
    # the one fixed point of deciding every row at once from the others' last choices: reached
    # in as many rounds as the longest chain of rows that see each other (one or two), where a
    # round per row took fifty on highway-v0.
    wanted, lane = mine(state.target_lane), mine(state.lane)
    chosen = wanted
    while True:
        targets = state.target_lane.index_put((asking.env, asking.row), chosen)
        seen = torch.where(before, targets[asking.env], old_target[asking.env])
        blocked = (other & (seen == wanted[:, None])).any(-1)
        decided = torch.where(blocked, lane, wanted)
        if torch.equal(decided, chosen):
            break
        chosen = decided
    state.target_lane[asking.env, asking.row] = chosen


def mobil(
    state: NetworkState,
    road: RoadTensors,
    own: Lanes | Stations,
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
        x, y = weighing.gather(state.x_m), weighing.gather(state.y_m)
        along, across = roads.local_coordinates(LaneView.of(road, side), x, y)
        reachable = roads.is_reachable_from(road, side, along, across)
        new_front, new_rear = search(own, state, road, weighing, side)
        # The new follower's prediction, along its own lane, with the asking row's exponent.
        follower_mps2 = idm(
            state, road, own, weighing, weighing.row, vehicle=new_rear, constants=constants
        )
        self_pred_mps2 = idm(state, road, own, weighing, new_front, constants=constants)
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
