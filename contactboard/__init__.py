"""The project: settings, URL configuration and the ASGI entry point that wire the apps together.

``dashboard`` (pages, sockets, admin) builds on ``statsbridge`` (the upstream bridge);
this package is the only place that knows both. Nothing in the apps imports it.
"""
