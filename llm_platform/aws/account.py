"""The account, partition and region a stack deploys into: resolved once by the base, handed to every
component that builds an ARN or a regional service name."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from llm_platform.resources import invoke


@dataclass(frozen=True)
class AwsAccount:
    account_id: str
    partition: str
    """`aws`, or `aws-cn` / `aws-us-gov` in the other partitions."""
    region: str

    @classmethod
    def resolve(cls, provider: pulumi.ProviderResource, region: str) -> AwsAccount:
        """Ask the stack's provider, whose region is the configured one, who it deploys as."""
        identity = invoke("aws:index/getCallerIdentity:getCallerIdentity", {}, provider=provider)
        partition = invoke("aws:index/getPartition:getPartition", {}, provider=provider)
        return cls(account_id=identity["accountId"], partition=partition["partition"], region=region)
