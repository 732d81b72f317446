"""The web layer: app factory, API routers, live socket, static page."""
