"""A lab-free stack: a component resource, plain and secret outputs, and a config secret round-trip."""

import pulumi


class Box(pulumi.ComponentResource):
    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("govcloud:test:Box", name, None, opts)
        self.label = pulumi.Output.from_input(f"box-{name}")
        self.register_outputs({"label": self.label})


config = pulumi.Config()
box = Box(config.get("box") or "one")
pulumi.export("label", box.label)
pulumi.export("token", config.require_secret("token"))
pulumi.export("token_length", config.require_secret("token").apply(len))
