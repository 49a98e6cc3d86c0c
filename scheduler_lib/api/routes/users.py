"""/user/me and /user: profiles and user management."""

from __future__ import annotations

from ...services import users
from ...services.users import EMAIL_PATTERN, MIN_PASSWORD_LENGTH, USERNAME_PATTERN
from .. import schemas
from ..routing import Call, Reply, Route
from ..schemas import named
from ..validation import obj

_USERNAME = {"type": "string", "pattern": USERNAME_PATTERN, "minLength": 3, "maxLength": 150,
             "x-error": "must be 3-150 characters: letters, digits, '.', '_' or '-'"}
_EMAIL = {"type": "string", "maxLength": 254, "pattern": EMAIL_PATTERN,
          "x-error": "must be a valid e-mail address"}
_PASSWORD = {"type": "string", "minLength": MIN_PASSWORD_LENGTH, "maxLength": 72}
_SUPERUSER = {"type": "boolean"}


def me(call: Call) -> Reply:
    return Reply(f"Welcome {call.user.username}!", call.user.to_json())


def _new_password(call: Call) -> users.NewPassword | None:
    return users.new_password(call.ctx, call.body)


def _my_new_password(call: Call) -> users.NewPassword | None:
    if "is_superuser" in call.body and call.body["is_superuser"] != call.user.is_superuser:
        return None  # refused by update_profile before any password is looked at
    return users.new_password(call.ctx, call.body, current_user=call.user)


def update_me(call: Call) -> Reply:
    user = users.update_profile(call.ctx, call.user, call.body, call.prepared)
    return Reply("Profile updated successfully!", user.to_json())


def list_users(call: Call) -> Reply:
    rows, total = users.list_users(call.query["limit"], call.query["offset"])
    return Reply("List of all users", [u.to_json() for u in rows], total=total)


def create_user(call: Call) -> Reply:
    body = call.body
    user = users.create_user(call.ctx, username=body["username"], email=body["email"],
                             password=body["password"],
                             is_superuser=body.get("is_superuser", False),
                             prepared=call.prepared)
    return Reply(f"User {user.username} has been created successfully!", user.to_json())


def get_user(call: Call) -> Reply:
    return Reply("Success", users.get_user(call.params["id"]).to_json())


def update_user(call: Call) -> Reply:
    user_id = call.params["id"]
    user = users.update_user(call.ctx, user_id, call.body, call.prepared)
    return Reply(f"User with id {user_id} has been updated successfully!", user.to_json())


def delete_user(call: Call) -> Reply:
    user_id = call.params["id"]
    users.delete_user(call.user, user_id)
    return Reply(f"User with id {user_id} has been deleted successfully!")


ROUTES = [
    Route("GET", "/user/me", me, "The caller's profile", tag="users", data=schemas.USER,
          operation_id="getMe"),
    Route("PATCH", "/user/me", update_me, "Update the caller's profile", tag="users",
          admin_only=True, prepare=_my_new_password,
          data=schemas.USER, errors=(400, 403, 409),
          body=named("ProfileUpdate",
                     obj({"username": _USERNAME, "email": _EMAIL, "password": _PASSWORD,
                          "current_password": {"type": "string", "maxLength": 1024},
                          "is_superuser": _SUPERUSER})), operation_id="updateMe"),
    Route("GET", "/user", list_users, "Every user (superuser)", auth="superuser",
          tag="users", paginated=True, data=schemas.list_of(schemas.USER),
          operation_id="listUsers"),
    Route("POST", "/user", create_user, "Create a user (superuser)", auth="superuser",
          tag="users", status=201, data=schemas.USER, errors=(400, 409), prepare=_new_password,
          body=named("UserCreate",
                     obj({"username": _USERNAME, "email": _EMAIL, "password": _PASSWORD,
                          "is_superuser": _SUPERUSER}, ("username", "email", "password"))),
          operation_id="createUser"),
    Route("GET", "/user/{id}", get_user, "One user (superuser)", auth="superuser",
          tag="users", data=schemas.USER, errors=(404,), operation_id="getUser"),
    Route("PATCH", "/user/{id}", update_user, "Update a user (superuser)", auth="superuser",
          tag="users", data=schemas.USER, errors=(400, 404, 409), prepare=_new_password,
          body=named("UserUpdate",
                     obj({"username": _USERNAME, "email": _EMAIL, "password": _PASSWORD,
                          "is_superuser": _SUPERUSER})), operation_id="updateUser"),
    Route("DELETE", "/user/{id}", delete_user, "Delete a user and what is theirs alone",
          auth="superuser", tag="users", errors=(400, 404, 409), operation_id="deleteUser"),
]
