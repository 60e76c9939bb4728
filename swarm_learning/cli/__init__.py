"""The learner's `swarm` subcommands (`sl`, `demo`), registered in the `swarm.commands`
entry-point group and assembled by `swarm_network.cli.main`."""
