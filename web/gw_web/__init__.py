"""The dashboard: its static files served from the gateway's own API, same origin as the routes it calls."""
