"""llm-platform: loads the stack configuration and composes the components. Nothing else lives here."""

import pulumi
import pulumi_aws as aws

from components.network import Network, NetworkArgs
from llm_platform import config as stack_config

cfg = stack_config.load()
tags = cfg.common_tags()

# An explicit provider: the region comes from the validated stack config, never from ambient settings.
aws_provider = aws.Provider("aws", region=cfg.region)
on_aws = pulumi.ResourceOptions(providers={"aws": aws_provider})

network = Network(cfg.cluster_name, NetworkArgs(config=cfg.network, cluster_name=cfg.cluster_name, tags=tags), opts=on_aws)

pulumi.export("region", cfg.region)
pulumi.export("vpcId", network.vpc_id)
pulumi.export("publicSubnetIds", network.public_subnet_ids)
pulumi.export("privateSubnetIds", network.private_subnet_ids)
pulumi.export("availabilityZones", network.availability_zones)
