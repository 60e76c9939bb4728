"""A live view of the swarm for the REST API and the dashboard: chain state kept current by
following the contract's events (not read per request), an event stream (SSE) fed by the same
events, and the learners' signed metrics (README, "Dashboard and live view")."""

from swarm_network.live.routes import LiveSource, install_live_routes, run_live_view

__all__ = ["LiveSource", "install_live_routes", "run_live_view"]
