"""Who may do what: per-job roles and ownership of schedules and header presets.

Every permission decision on the ``/fetch`` resources goes through this module.

Roles per job (``job_members``): ``owner`` does everything, ``editor`` reads,
updates, runs and records results, ``viewer`` only reads. Superusers pass every
check, and so does ``SYSTEM``, the operator acting through the CLI (``scheduler
import``): a caller that is no user and owns nothing, so whatever it creates names
its owner. A job that does not exist is 404; one the caller is not a member of is 403.
"""

from __future__ import annotations

from typing import Any, TypeVar

from ..errors import ApiError, Forbidden, NotFound
from ..models import Channel, HeaderPreset, Job, JobMember, Schedule, User

__all__ = ["ROLES", "READ", "WRITE", "OWNER", "NOT_MEMBER", "SYSTEM", "Caller", "role_of",
           "require", "check_all_flag", "check_owned", "owned_row"]

ModelT = TypeVar("ModelT", Schedule, HeaderPreset, Channel)

ROLES = ("owner", "editor", "viewer")
READ = ROLES
WRITE = ("owner", "editor")
OWNER = ("owner",)
NOT_MEMBER = "You are not a member of this project!"


class SystemCaller:
    """The operator at the command line: passes every check, is no user."""

    def __repr__(self) -> str:
        return "SYSTEM"


SYSTEM = SystemCaller()
# Who asks: a logged-in user, or the system.
Caller = User | SystemCaller


def role_of(user: User, job: Job | int) -> str | None:
    """``user``'s role in ``job`` (a Job or its id), or None for a non-member."""
    job_id = job if isinstance(job, int) else job.id
    row = (JobMember.select(JobMember.role)
           .where(JobMember.job == job_id, JobMember.user == user.id).first())
    return row.role if row is not None else None


def require(user: Caller, job_id: int, allowed_roles: tuple[str, ...]) -> Job:
    """The job ``job_id`` if ``user`` may act on it with one of ``allowed_roles``.

    404 when it does not exist, 403 for a non-member or a role not allowed.
    """
    job = Job.get_or_none(Job.id == job_id)
    if job is None:
        raise NotFound(f"Fetch Api with id {job_id} not found")
    if isinstance(user, SystemCaller) or user.is_superuser:
        return job
    role = role_of(user, job)
    if role is None:
        raise Forbidden(NOT_MEMBER)
    if role not in allowed_roles:
        needed = " or ".join(allowed_roles)
        raise Forbidden(f"Your role '{role}' cannot do this: it needs {needed}")
    return job


def check_all_flag(user: User, query: dict[str, Any]) -> bool:
    """Whether a list shows everyone's rows: ``?all=true`` is for superusers only."""
    if query.get("all"):
        if not user.is_superuser:
            raise Forbidden("Only a superuser can list everyone's resources (all=true)")
        return True
    return False


def check_owned(user: Caller, owner_id: int, what: str) -> None:
    """A schedule or header preset belongs to its creator (superusers, the system: all)."""
    if not (isinstance(user, SystemCaller) or user.is_superuser) and owner_id != user.id:
        raise Forbidden(f"You are not the owner of this {what}!")


def owned_row(user: Caller, model: type[ModelT], row_id: int, what: str,
              missing: ApiError) -> ModelT:
    """The ``model`` row ``row_id`` if ``user`` owns it: ``missing`` is raised when there
    is none (404 to read it, 400 when a job names it), 403 when it is someone else's."""
    row = model.get_or_none(model.id == row_id)
    if row is None:
        raise missing
    check_owned(user, row.user_id, what)
    return row
