"""HTTP layer: Starlette routes, templates and middleware. Imports the domain, never the reverse."""
