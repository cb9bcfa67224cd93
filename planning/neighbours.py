"""Which vehicles are ahead of and behind the ego in a lane: the neighbour search shared by the
rule planner, the policies' executors and the metrics.

A vehicle is in a lane when the side of its box, turned to its heading, reaches into it, so a car
halfway through a lane change, or standing askew across two lanes, counts in both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from perception.base import SceneState
from sims.frenet import heading_at, to_frenet, velocity_in_lane
from sims.groundtruth import LaneGeometry, VehicleState

IN_LANE_MARGIN_M = 0.2  # [m] a vehicle counts in a lane once its side is this close to the line
CUT_IN_PREVIEW_S = 1.5  # [s] lateral drift is extrapolated this far to see cut-ins early
# [rad] highway-env's lateral controller turns a lane-changing vehicle at most this far from its
# lane (``ControlledVehicle.steering_control`` clips the heading command to pi/4): a vehicle turned
# further is crossing the lane, not cutting into it.
CUT_IN_MAX_TURN_RAD = math.pi / 4


@dataclass(frozen=True)
class Neighbours:
    """The nearest vehicles ahead and behind in one lane: bumper gaps along it [m], and speeds along
    it where each vehicle is [m/s]."""

    lead_gap_m: float | None = None
    lead_speed_mps: float | None = None
    rear_gap_m: float | None = None
    rear_speed_mps: float | None = None
    lead_id: int | None = None  # the leader's vehicle_id
    lead_speed_std_mps: float = 0.0  # [m/s] how far the leader's speed may be off (perception's)


def neighbours_in(
    lane: LaneGeometry,
    scene: SceneState,
    *,
    preview_s: float = CUT_IN_PREVIEW_S,
    turned_boxes: bool = True,
) -> Neighbours:
    """Find the nearest vehicle ahead of and behind the ego along ``lane``.

    A vehicle is in the lane when its side is within :data:`IN_LANE_MARGIN_M` of the lane's line, so a
    vehicle halfway through a lane change counts in both lanes. Its side is that of its box turned
    to its heading (:func:`box_extents_m`): a car standing askew reaches into the lane beside it.

    :param preview_s: the lateral drift of a vehicle driving the lane's way (turned at most
        :data:`CUT_IN_MAX_TURN_RAD` from it) is extrapolated this far [s], with the lane's heading
        where the vehicle is.
    :param turned_boxes: measure boxes turned to their headings; ``False`` takes every box as
        aligned with the lane (the metrics' time to collision, defined before boxes were turned).
    :return: the gaps [m], and the speeds along the lane where each vehicle is [m/s].
    """
    ego = scene.ego
    if not scene.vehicles:
        return Neighbours()
    xs = np.array([v.x_m for v in scene.vehicles])
    ys = np.array([v.y_m for v in scene.vehicles])
    stations, offsets = to_frenet(lane.centreline, xs, ys)
    ego_station, _ = to_frenet(lane.centreline, np.array(ego.x_m), np.array(ego.y_m))
    lead: tuple[float, int] | None = None  # (bumper gap [m], the vehicle's index)
    rear: tuple[float, int] | None = None
    limit = lane.width_m / 2 - IN_LANE_MARGIN_M
    headings = heading_at(lane.centreline, stations)
    turns = np.array([v.heading_rad for v in scene.vehicles]) - headings
    # Speeds along the lane where each vehicle is: the rate its station changes, as the gap is
    # measured along the lane (on the roundabout's ring, a car 30 m ahead is turned 1.5 rad from
    # the ego: projected on the ego's heading it read at a fourteenth of its speed).
    along_speeds, rightward_speeds = velocity_in_lane(
        np.array([v.speed_mps for v in scene.vehicles]), turns
    )
    for index, (vehicle, station, offset, heading, turn, rightward) in enumerate(
        zip(scene.vehicles, stations, offsets, headings, turns, rightward_speeds, strict=True)
    ):
        # A vehicle drifting towards the lane counts where it will be in CUT_IN_PREVIEW_S: cut-ins
        # are seen as they start, not once they are halfway across. Cut-ins come from vehicles
        # driving the lane's way, turned no further than a lane change turns them: one crossing
        # the lane or driving against it (a junction's crossing and oncoming traffic) counts
        # where it is, and the conflict test (planning.conflict) owns it.
        cutting_in = math.cos(turn) >= math.cos(CUT_IN_MAX_TURN_RAD)
        drift = float(rightward) * preview_s if cutting_in else 0.0
        nearest = _nearest_offset_m(float(offset), drift)
        across, along = (
            box_extents_m(vehicle, float(heading))
            if turned_boxes
            else (vehicle.width_m / 2, vehicle.length_m / 2)
        )
        if nearest > limit + across:
            continue
        half_lengths = along + ego.length_m / 2
        ahead_m = float(station - ego_station)
        if ahead_m >= 0 and (lead is None or ahead_m - half_lengths < lead[0]):
            lead = (ahead_m - half_lengths, index)
        elif ahead_m < 0 and (rear is None or -ahead_m - half_lengths < rear[0]):
            rear = (-ahead_m - half_lengths, index)
    leader = scene.vehicles[lead[1]] if lead else None
    return Neighbours(
        lead_gap_m=lead[0] if lead else None,
        lead_id=leader.vehicle_id if leader else None,
        lead_speed_mps=float(along_speeds[lead[1]]) if lead else None,
        lead_speed_std_mps=leader.speed_std_mps if leader else 0.0,
        rear_gap_m=rear[0] if rear else None,
        rear_speed_mps=float(along_speeds[rear[1]]) if rear else None,
    )


def _nearest_offset_m(offset_m: float, drift_m: float) -> float:
    """How near a vehicle at ``offset_m`` from a lane's centre comes to it as it drifts by ``drift_m``
    sideways in a straight line [m]: zero where the drift carries it across the centre.

    (A lane changer's drift in the preview is often more than twice its offset: highway-env's
    lateral controller commands 1/0.6 s times the offset, 2.5 times it over 1.5 s.)
    """
    if offset_m * drift_m >= 0:
        return abs(offset_m)  # drifting away, or not at all
    return max(0.0, abs(offset_m) - abs(drift_m))


def box_extents_m(vehicle: VehicleState, lane_heading_rad: float) -> tuple[float, float]:
    """Half the extents of ``vehicle``'s box across a lane and along it: a box of length L and
    width W turned by theta to the lane reaches L/2 |sin| + W/2 |cos| across it.

    :param vehicle: the vehicle, with its heading [rad] and size [m].
    :param lane_heading_rad: the lane's heading where the vehicle is [rad].
    :return: the half extents across and along the lane [m].
    """
    sine = abs(math.sin(vehicle.heading_rad - lane_heading_rad))
    cosine = abs(math.cos(vehicle.heading_rad - lane_heading_rad))
    return (
        vehicle.length_m / 2 * sine + vehicle.width_m / 2 * cosine,
        vehicle.length_m / 2 * cosine + vehicle.width_m / 2 * sine,
    )
