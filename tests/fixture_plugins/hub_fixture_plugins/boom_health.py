from hub.hookspecs import hookimpl
from hub.types import CheckResult

# Tests turn the fault off to see the plugin recover.
FAILING = {"on": True}


@hookimpl
def hub_register_health_checks(hub):
    def exploding_check():
        if FAILING["on"]:
            raise ConnectionError("health endpoint unreachable")
        return CheckResult(name="exploding_check", ok=True)

    return [exploding_check]
