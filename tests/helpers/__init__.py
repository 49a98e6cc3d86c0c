"""What the tests share, so that no test module imports another (or conftest).

- ``http``: ``Client`` (urllib3, speaks the API's JSON), ``Response``, ``free_port``
  and ``CONNECTION_ERRORS`` (what a readiness poll may catch: nothing else).
- ``polling``: ``wait_for``, the deadline-bounded poll used instead of ``sleep``.
- ``envelope``: ``assert_envelope``, the response shape of API.md section 1.
- ``instance``: the in-process server of the ``server``/``start_server`` fixtures
  (``RunningServer``, ``Person``, ``instance_settings``, ``ADMIN_PASSWORD``).
- ``serve``: ``ServeProcess``, the one way to run ``scheduler serve`` (the script or
  the built executable) as a subprocess on a free port, and ``serve_environment``.
- ``backends``: the SQLite/PostgreSQL databases the suite runs on.
- ``targets``: real local HTTP and WebSocket servers for jobs to call.
- ``world``: people by role sharing one job, for the /fetch resource tests.
- ``engine_api``: schedules, jobs and results through the API, for the engine tests.
- ``victim``: a user with one resource of every kind, for the security and fuzz tests.

``conftest.py`` holds only fixtures (and the hooks that parametrize by backend); it
builds them from these modules.
"""
