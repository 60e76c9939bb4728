"""Default ports, chain id and model retention, written once (docs/ARCHITECTURE.md, "Ports");
every flag, config dataclass and help text takes its default from here. Imports nothing, so
that a command's `--help` stays fast."""

RPC_PORT = 30303  # the sentinel's chain JSON-RPC
REST_PORT = 30304  # every SN node's REST API, the sentinel included
FILE_PORT = 30305  # every SN node's and every learner's file server
CHAIN_ID = 1337  # the embedded chain's
LOOPBACK = "127.0.0.1"
WILDCARD_HOSTS = ("0.0.0.0", "::", "")  # listen on every address; reached through LOOPBACK
DEFAULT_SN_URL = f"http://{LOOPBACK}:{REST_PORT}"
KEEP_MODELS = 5  # how many of the newest agreed models every SN node keeps copies of

# What each listener is called in logs and errors; the command line maps a taken port back to
# the flag that chooses it (swarm_network/cli/messages.py).
CHAIN_RPC = "chain JSON-RPC"
REST_API = "REST API"
FILE_SERVER = "file server"
