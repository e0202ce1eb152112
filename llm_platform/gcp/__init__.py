"""The Google Cloud base: everything a stack creates in Google Cloud (APIs, network, GKE cluster and its
node pools, weights bucket, budget) and how alerts leave the cluster there. `base.build` composes it and
hands the shared platform a `ClusterBase`."""
