"""The AWS base: everything a stack creates in AWS, and the in-cluster pieces only EKS needs (Karpenter
and its node pools, the NVIDIA device plugin, the EBS CSI driver and its StorageClass). `base.build`
composes it and hands the shared platform a `ClusterBase`."""
