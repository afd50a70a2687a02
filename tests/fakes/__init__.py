"""Stateful fakes of the CRMs the export adapters write to, served over real HTTP.

    from tests.fakes.hubspot import HubSpotFake
    from tests.fakes.server import serve_app

    fake = HubSpotFake()
    base_url, stop = serve_app(fake.app)     # uvicorn on 127.0.0.1, a free port, in a thread
    fake.script(["429", "lost_response"])    # faults consumed one per request
    ...
    stop()

Each fake models the documented contract of its vendor (see ../../shared/crm-specs/API-NOTES.md):
authentication with the vendor's exact 401 bodies, request validation, realistic error bodies,
rate limits and the state the adapters change, so tests assert what the CRM ends up holding.
"""
