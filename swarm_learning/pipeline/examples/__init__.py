"""Example swarms: federated learning on the digits (the platform document's FLSwarm, and its
agreed-aggregator variant), and federated k-means, which is not model averaging."""
