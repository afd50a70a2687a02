"""Export targets: CRMs (HubSpot, Salesforce, kintone), a signed webhook and files.

Each target is a `base.Target` subclass; `base.Summary` is the one deal summary they all write.
"""
