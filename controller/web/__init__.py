"""The station in a browser: server-rendered pages (Jinja2), htmx for updates, SSE for live."""
