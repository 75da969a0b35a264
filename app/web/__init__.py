"""The dashboard (DESIGN §11): login, shared links, the page shell and its built assets.

The pages draw everything from the public query and triage API; the sources of their
script and style sheet are in `app/web/src/`, built into `app/web/static/` by setup.
"""
