"""What the tests (and bench/) share, one topic a module; fixtures are in tests/conftest.py, and
no test module imports another (.importlinter checks it).

    people         a profile's input, the profile and matching operations, person → Person
    chat           chat at the schema level: matched, send, the conversation operations
    live_chat      chat over graphql-transport-ws in a TestClient: Client, subscribe, next_data
    over_http      requests and people against a real server's base URL: gql, person
    notifications  a notification end to end: NOTIFICATIONS, INTEREST, interest_from
    rate_limits    the RateLimited selection and refusal check
    persisted      the persisted-query extension and `rapport documents`
    node_clients   the Node clients in tests/clients and the person their scripts take
    gql            the schema in process (Gql) and make_viewer
    mailbox        signing up through the API, the emailed code; PASSWORD
    ids            global ids: gid, key, number, user_of
    database       raw_dsn, snapshot (a digest of every table)
    settings       make_settings
    servers        the app in a real uvicorn: running_server, ServerProcess, free_port
    serving        `rapport serve` as a real process; one_line_error
    redis_server   a private redis-server
    static_site    static files from an origin of their own
    browser        Debian's chromium: path, arguments, timeout
    authz_world    the world and tools of tests/test_authorization.py
"""
