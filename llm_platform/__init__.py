"""llm-platform: configuration, catalog and rules shared by the Pulumi program, the policy pack and the tools."""
