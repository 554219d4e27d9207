"""The PM's desk: a Streamlit app over the published read-only snapshot of the database.

The top layer: it may import anything below it, and nothing imports it but the configuration, which reads
the desk's block from `settings` (base layer: pydantic only). `data/` builds what each page shows
(plain functions returning polars frames and dicts, tested without a browser); `views/` only render; every
action is a Dagster run launched through the webserver's GraphQL API (`actions`). See docs/desk.md.
"""
