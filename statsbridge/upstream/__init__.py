"""The bridge's link to Genesys: OAuth tokens, the Statistics REST API and CometD.

Everything here shares one long-lived ``aiohttp.ClientSession`` (see ``http.py``) so
that REST and CometD calls carry the same cookies, as the Statistics service requires.
"""
