"""/fetch/{fetch_id}/member: who has which role in a job."""

from __future__ import annotations

from ...services import members
from ...services.access import ROLES
from .. import schemas
from ..routing import Call, Reply, Route
from ..schemas import named
from ..validation import obj
from .jobs import MAX_ID

_ROLE = {"enum": list(ROLES)}


def list_members(call: Call) -> Reply:
    rows, total = members.list_members(call.user, call.params["fetch_id"], call.query["limit"],
                                       call.query["offset"])
    return Reply("List fetch members", [m.to_json() for m in rows], total=total)


def add_member(call: Call) -> Reply:
    member = members.add_member(call.user, call.params["fetch_id"], call.body["role"],
                                user_id=call.body.get("user_id"),
                                username=call.body.get("username"))
    return Reply("Success add a member", member.to_json())


def get_member(call: Call) -> Reply:
    member = members.get_member(call.user, call.params["fetch_id"], call.params["user_id"])
    return Reply("Success", member.to_json())


def update_member(call: Call) -> Reply:
    member = members.update_member(call.user, call.params["fetch_id"], call.params["user_id"],
                                   call.body["role"])
    return Reply("Success update a member", member.to_json())


def remove_member(call: Call) -> Reply:
    members.remove_member(call.user, call.params["fetch_id"], call.params["user_id"])
    return Reply("Member Deleted")


ROUTES = [
    Route("GET", "/fetch/{fetch_id}/member", list_members, "A job's members (members)",
          tag="members", paginated=True, data=schemas.list_of(schemas.MEMBER),
          errors=(403, 404), operation_id="listMembers"),
    Route("POST", "/fetch/{fetch_id}/member", add_member, "Add a member (owner)",
          tag="members", status=201, action="member.add",
          body=named("MemberCreate",
                     obj({"user_id": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
                          "username": {"type": "string", "minLength": 1, "maxLength": 254,
                                       "description": "A username or e-mail address (any "
                                                      "case); instead of user_id."},
                          "role": _ROLE},
                         ("role",))),
          data=schemas.MEMBER, errors=(400, 403, 404, 409), operation_id="addMember"),
    Route("GET", "/fetch/{fetch_id}/member/{user_id}", get_member, "One member (members)",
          tag="members", data=schemas.MEMBER, errors=(403, 404), operation_id="getMember"),
    Route("PATCH", "/fetch/{fetch_id}/member/{user_id}", update_member,
          "Change a member's role (owner)", tag="members",
          body=named("MemberUpdate", obj({"role": _ROLE}, ("role",))), data=schemas.MEMBER,
          errors=(400, 403, 404),
          operation_id="updateMember"),
    Route("DELETE", "/fetch/{fetch_id}/member/{user_id}", remove_member,
          "Remove a member (owner; never the last owner)", tag="members",
          errors=(400, 403, 404), operation_id="removeMember", action="member.remove"),
]
